import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { say } from './log.ts';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

const colors = [36, 35, 33, 32, 34, 31, 96, 95];
const stopTimeoutMs = 15_000;

/**
 * Runs the services as child processes with prefixed output. When one of
 * them dies unexpectedly the supervisor reports it through `onUnexpectedExit`
 * (the caller stops the rest: a half-running bank is worse than none).
 */
export class Supervisor {
  readonly #children = new Map<string, ChildProcess>();
  readonly #expectedExits = new Set<string>();
  readonly #onUnexpectedExit: (name: string, code: number | null, signal: string | null) => void;
  #stopping = false;
  readonly #nameWidth: number;

  readonly #onOutputLine: ((name: string, line: string) => void) | undefined;
  readonly #tap: ((name: string, line: string) => void) | undefined;

  constructor(options: {
    nameWidth: number;
    onUnexpectedExit: (name: string, code: number | null, signal: string | null) => void;
    /** Receives each output line instead of the console (tests scan them). */
    onOutputLine?: (name: string, line: string) => void;
    /** Sees every output line as well, whoever prints it. */
    tap?: (name: string, line: string) => void;
  }) {
    this.#tap = options.tap;
    this.#onUnexpectedExit = options.onUnexpectedExit;
    this.#nameWidth = options.nameWidth;
    this.#onOutputLine = options.onOutputLine;
  }

  start(spec: ProcessSpec): ChildProcess {
    this.#expectedExits.delete(spec.name);
    // Own process group: a Ctrl-C in the terminal reaches only the CLI, which
    // then stops each service once, in order, instead of every process
    // getting SIGINT and SIGTERM at the same moment (a second signal forces
    // an unclean exit).
    const child = spawn(spec.command, spec.args, {
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    if (this.#children.size === 0) process.once('exit', () => this.#killRemaining());
    const color = colors[this.#children.size % colors.length];
    const prefix = `\u001b[${color}m${spec.name.padEnd(this.#nameWidth)} |\u001b[0m `;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.#tap?.(spec.name, line);
        if (this.#onOutputLine === undefined) process.stdout.write(`${prefix}${line}\n`);
        else this.#onOutputLine(spec.name, line);
      });
    }
    child.on('exit', (code, signal) => {
      this.#children.delete(spec.name);
      if (!this.#stopping && !this.#expectedExits.has(spec.name))
        this.#onUnexpectedExit(spec.name, code, signal);
    });
    this.#children.set(spec.name, child);
    return child;
  }

  isRunning(name: string): boolean {
    return this.#children.has(name);
  }

  /** Stops one child (SIGTERM, then SIGKILL after the timeout) without counting it as a crash. */
  async stop(name: string): Promise<void> {
    const child = this.#children.get(name);
    if (!child) return;
    this.#expectedExits.add(name);
    child.kill('SIGTERM');
    const deadline = Date.now() + stopTimeoutMs;
    while (this.#children.has(name) && Date.now() < deadline) await sleep(50);
    if (this.#children.has(name)) child.kill('SIGKILL');
  }

  /** Last resort when the CLI itself exits without stopping: no orphaned services. */
  #killRemaining(): void {
    for (const child of this.#children.values()) child.kill('SIGKILL');
  }

  /** SIGTERM to every child (each drains and exits), SIGKILL to any that outlives the timeout. */
  async stopAll(): Promise<void> {
    this.#stopping = true;
    const running = [...this.#children.entries()].reverse();
    for (const [, child] of running) child.kill('SIGTERM');
    const deadline = Date.now() + stopTimeoutMs;
    while (this.#children.size > 0 && Date.now() < deadline) await sleep(100);
    for (const [name, child] of this.#children) {
      say(`${name} did not stop within ${stopTimeoutMs} ms; killing it`);
      child.kill('SIGKILL');
    }
  }
}
