/** One piece of local infrastructure that `nuri infra` manages or merely uses. */
export interface Component {
  readonly name: string;
  /** Where clients reach it, for `nuri infra status`. */
  readonly address: string;
  /** The server's version when it answers, or null when it does not. */
  probe(): Promise<string | null>;
  /**
   * Starts it when it is installed but stopped; throws a CliError naming what
   * to install when it is not. Only called after a failed probe.
   */
  start(): Promise<void>;
  /** Stops it, but only when this project started it (Kafka). */
  stop?(): Promise<boolean>;
  /** Extra status detail (pid, log file), when there is any. */
  describe?(): string;
}

export function isLocalHost(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

export const composeHint =
  'or, on a machine with Docker, `docker compose -f deploy/compose/infra.yaml up -d`';
