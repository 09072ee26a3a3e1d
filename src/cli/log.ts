// The CLI talks to a person, not to a log pipeline: plain lines on stderr,
// so stdout stays clean for reports (`nuri reconcile`, `nuri infra status`).
export function say(message: string): void {
  process.stderr.write(`nuri: ${message}\n`);
}

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
