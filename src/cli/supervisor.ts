import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { say } from './log.ts';

// A process manager for the services, in the manner of Kubernetes'
// restartPolicy or systemd's Restart=on-failure: an instance that exits
// unexpectedly is started again after a back-off, and nothing else stops.
//
//   starting ──ready probe passes──▶ ready ──probes fail──▶ not-ready ──pass──▶ ready
//       │                              │
//       └────── exits unexpectedly ────┴──▶ restarting ──back-off──▶ starting
//                                             (crash-looping after `crashLoopAfter`
//                                              quick exits in a row)
//
// Back-off: `initialBackoffMs` doubling per quick exit (one within
// `stableAfterMs` of its start) up to `maxBackoffMs`; an instance that stayed
// up `stableAfterMs` starts over from the initial delay. A crash loop is said
// loudly on every exit, with the last lines the instance printed.

export interface InstanceProcessSpec {
  /** `coupon#2`: unique; logs and `nuri status` name the instance so. */
  name: string;
  service: string;
  index: number;
  port: number;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** GET here answers 200 when the instance is ready. */
  readyUrl: string;
}

export type InstanceState = 'starting' | 'ready' | 'not-ready' | 'restarting' | 'crash-looping' | 'stopped';

export interface InstanceStatus {
  name: string;
  service: string;
  index: number;
  port: number;
  pid: number | undefined;
  state: InstanceState;
  /** Unexpected exits so far, each followed by a restart. */
  restarts: number;
  /** When the current process started (ms since the epoch); undefined while none runs. */
  startedAt: number | undefined;
  lastExit: { code: number | null; signal: string | null; at: number } | undefined;
}

export interface RestartPolicy {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Up this long, an instance's next exit starts the back-off over. */
  stableAfterMs: number;
  /** Quick exits in a row that make it crash-looping. */
  crashLoopAfter: number;
}

export const defaultRestartPolicy: RestartPolicy = {
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  stableAfterMs: 20_000,
  crashLoopAfter: 3,
};

export interface SupervisorOptions {
  nameWidth: number;
  restartPolicy?: RestartPolicy;
  /** Receives each output line instead of the console (tests scan them). */
  onOutputLine?: (name: string, line: string) => void;
  /** Sees every output line as well, whoever prints it. */
  tap?: (name: string, line: string) => void;
  /** Any instance changed state (the status file, monitoring targets). */
  onChange?: (instances: InstanceStatus[]) => void;
  /** How often a running instance's readiness is probed once it was ready. */
  readyProbeIntervalMs?: number;
  /** Where exits, restarts and crash loops are told; the console (stderr) by default. */
  report?: (message: string) => void;
}

const colors = [36, 35, 33, 32, 34, 31, 96, 95, 93, 92];
const stopTimeoutMs = 15_000;
const startingProbeIntervalMs = 250;
const probeTimeoutMs = 1_000;
/** Failed probes in a row that turn a ready instance not-ready. */
const probeFailuresMax = 2;
const recentLinesMax = 30;

interface Managed {
  spec: InstanceProcessSpec;
  color: number;
  child: ChildProcess | undefined;
  status: InstanceStatus;
  /** Quick exits in a row. */
  quickExits: number;
  restartTimer: NodeJS.Timeout | undefined;
  probeTimer: NodeJS.Timeout | undefined;
  probeFailures: number;
  recentLines: string[];
  /** Resolves when the process of this generation exits. */
  exited: Promise<void> | undefined;
}

export class Supervisor {
  readonly #instances = new Map<string, Managed>();
  readonly #options: SupervisorOptions;
  readonly #policy: RestartPolicy;
  #stopping = false;
  #exitHookInstalled = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#policy = options.restartPolicy ?? defaultRestartPolicy;
  }

  /** Registers and starts an instance. */
  start(spec: InstanceProcessSpec): void {
    if (this.#instances.has(spec.name)) throw new Error(`instance ${spec.name} exists already`);
    const managed: Managed = {
      spec,
      color: colors[this.#instances.size % colors.length]!,
      child: undefined,
      status: {
        name: spec.name,
        service: spec.service,
        index: spec.index,
        port: spec.port,
        pid: undefined,
        state: 'starting',
        restarts: 0,
        startedAt: undefined,
        lastExit: undefined,
      },
      quickExits: 0,
      restartTimer: undefined,
      probeTimer: undefined,
      probeFailures: 0,
      recentLines: [],
      exited: undefined,
    };
    this.#instances.set(spec.name, managed);
    this.#spawn(managed);
  }

  list(): InstanceStatus[] {
    return [...this.#instances.values()].map((managed) => ({ ...managed.status }));
  }

  status(name: string): InstanceStatus {
    return { ...this.#managed(name).status };
  }

  /** The last lines an instance printed (a failed start says why). */
  recentLines(name: string): string[] {
    return [...this.#managed(name).recentLines];
  }

  /** Sends a signal to the instance's process as an outside fault would (SIGKILL, SIGSTOP, SIGCONT). */
  signal(name: string, signal: NodeJS.Signals): void {
    const child = this.#managed(name).child;
    if (child?.pid === undefined) throw new Error(`${name} has no running process`);
    process.kill(child.pid, signal);
  }

  /** Stops one instance on purpose (SIGTERM, then SIGKILL after the timeout): not a crash, not restarted. */
  async stop(name: string): Promise<void> {
    const managed = this.#managed(name);
    clearTimeout(managed.restartTimer);
    this.#setState(managed, 'stopped');
    await this.#terminate(managed);
  }

  /** Starts a stopped instance again (now, without back-off). No-op while it runs or waits to restart. */
  resume(name: string): void {
    const managed = this.#managed(name);
    if (managed.status.state !== 'stopped') return;
    managed.quickExits = 0;
    this.#spawn(managed);
  }

  /** SIGTERM to every instance (each drains and exits), SIGKILL to any that outlives the timeout. No restarts. */
  async stopAll(): Promise<void> {
    this.#stopping = true;
    const all = [...this.#instances.values()].reverse();
    for (const managed of all) {
      clearTimeout(managed.restartTimer);
      clearTimeout(managed.probeTimer);
    }
    await Promise.all(all.map((managed) => this.#terminate(managed)));
    for (const managed of all) this.#setState(managed, 'stopped');
  }

  #managed(name: string): Managed {
    const managed = this.#instances.get(name);
    if (managed === undefined) throw new Error(`no instance named ${name}`);
    return managed;
  }

  #spawn(managed: Managed): void {
    const { spec } = managed;
    // Own process group: a Ctrl-C in the terminal reaches only the CLI, which
    // then stops each instance once, instead of every process getting SIGINT
    // and SIGTERM at the same moment (a second signal forces an unclean exit).
    const child = spawn(spec.command, spec.args, {
      // Told how often it was restarted before, so it can say so (/health/ready, the operator console).
      env: { ...spec.env, NURI_INSTANCE_RESTARTS: String(managed.status.restarts) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.#installExitHook();
    managed.child = child;
    managed.probeFailures = 0;
    managed.status.pid = child.pid;
    managed.status.startedAt = Date.now();
    const prefix = `\u001b[${managed.color}m${spec.name.padEnd(this.#options.nameWidth)} |\u001b[0m `;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        managed.recentLines.push(line);
        if (managed.recentLines.length > recentLinesMax) managed.recentLines.shift();
        this.#options.tap?.(spec.name, line);
        if (this.#options.onOutputLine === undefined) process.stdout.write(`${prefix}${line}\n`);
        else this.#options.onOutputLine(spec.name, line);
      });
    }
    managed.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#onExit(managed, child, code, signal);
        resolve();
      });
      // spawn itself failed (no such command): reported like an exit.
      child.once('error', (error) => {
        if (child.pid === undefined) {
          managed.recentLines.push(String(error));
          this.#onExit(managed, child, 127, null);
          resolve();
        }
      });
    });
    this.#setState(managed, 'starting');
    this.#scheduleProbe(managed, startingProbeIntervalMs);
  }

  #onExit(managed: Managed, child: ChildProcess, code: number | null, signal: string | null): void {
    if (managed.child !== child) return;
    managed.child = undefined;
    clearTimeout(managed.probeTimer);
    const now = Date.now();
    const upMs = now - (managed.status.startedAt ?? now);
    managed.status.pid = undefined;
    managed.status.startedAt = undefined;
    managed.status.lastExit = { code, signal, at: now };
    if (this.#stopping || managed.status.state === 'stopped') return;
    managed.status.restarts += 1;
    managed.quickExits = upMs >= this.#policy.stableAfterMs ? 1 : managed.quickExits + 1;
    const delayMs = Math.min(
      this.#policy.maxBackoffMs,
      this.#policy.initialBackoffMs * 2 ** (managed.quickExits - 1),
    );
    const how = signal ?? `code ${code}`;
    const report = this.#options.report ?? say;
    if (managed.quickExits >= this.#policy.crashLoopAfter) {
      this.#setState(managed, 'crash-looping');
      report(
        `\u001b[1;31m${managed.spec.name} is CRASH-LOOPING: ${managed.quickExits} exits in a row, each within ${this.#policy.stableAfterMs / 1_000} s of starting ` +
          `(last: ${how}); next start in ${delayMs / 1_000} s. Its last lines:\u001b[0m\n${managed.recentLines.slice(-10).join('\n')}`,
      );
    } else {
      this.#setState(managed, 'restarting');
      report(
        `${managed.spec.name} exited unexpectedly (${how}) after ${(upMs / 1_000).toFixed(1)} s; restarting in ${delayMs / 1_000} s`,
      );
    }
    managed.restartTimer = setTimeout(() => {
      managed.restartTimer = undefined;
      if (this.#stopping || managed.status.state === 'stopped') return;
      this.#spawn(managed);
    }, delayMs);
  }

  #scheduleProbe(managed: Managed, delayMs: number): void {
    clearTimeout(managed.probeTimer);
    managed.probeTimer = setTimeout(() => void this.#probe(managed), delayMs);
    managed.probeTimer.unref();
  }

  async #probe(managed: Managed): Promise<void> {
    const child = managed.child;
    if (child === undefined || this.#stopping) return;
    const ready = await isReady(managed.spec.readyUrl);
    if (managed.child !== child || this.#stopping || managed.status.state === 'stopped') return;
    const state = managed.status.state;
    if (ready) {
      managed.probeFailures = 0;
      if (state !== 'ready') this.#setState(managed, 'ready');
    } else if (state === 'ready' || state === 'not-ready') {
      managed.probeFailures += 1;
      if (managed.probeFailures >= probeFailuresMax && state === 'ready')
        this.#setState(managed, 'not-ready');
    }
    const interval =
      managed.status.state === 'starting'
        ? startingProbeIntervalMs
        : (this.#options.readyProbeIntervalMs ?? 2_000);
    this.#scheduleProbe(managed, interval);
  }

  #setState(managed: Managed, state: InstanceState): void {
    if (managed.status.state === state) return;
    managed.status.state = state;
    this.#options.onChange?.(this.list());
  }

  async #terminate(managed: Managed): Promise<void> {
    clearTimeout(managed.probeTimer);
    const child = managed.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    // A stopped (SIGSTOP) process would never act on SIGTERM.
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const exited = managed.exited;
    const timedOut = await Promise.race([exited?.then(() => false), sleep(stopTimeoutMs).then(() => true)]);
    if (timedOut && managed.child === child) {
      say(`${managed.spec.name} did not stop within ${stopTimeoutMs} ms; killing it`);
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** Last resort when the CLI itself exits without stopping: no orphaned services. */
  #installExitHook(): void {
    if (this.#exitHookInstalled) return;
    this.#exitHookInstalled = true;
    process.once('exit', () => {
      for (const managed of this.#instances.values()) {
        clearTimeout(managed.restartTimer);
        managed.child?.kill('SIGKILL');
      }
    });
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(probeTimeoutMs) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}
