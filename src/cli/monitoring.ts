// A real Prometheus for the running bank (`nuri monitoring up|down`,
// `npm start -- --monitoring`): Debian's `prometheus` binary, the rules of
// deploy/monitoring/rules, and every instance found through file-based
// service discovery — a JSON file of targets that the supervisor rewrites
// whenever an instance starts, restarts or stops (Prometheus watches it).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { CliError, say } from './log.ts';
import { cacheDir, rootDir, secretsDir } from './paths.ts';
import { hasCommand, isProcessAlive, waitUntil } from './process.ts';
import type { InstanceStatus } from './supervisor.ts';

export const monitoringDir = join(rootDir, 'deploy', 'monitoring');
export const rulesDir = join(monitoringDir, 'rules');
export const prometheusInstallHint = 'on Debian: apt-get install --no-install-recommends prometheus';

/** Written by `npm start` on every change of an instance (git-ignored with the rest of .nuri/). */
export const targetsFile = join(secretsDir, 'run', 'prometheus-targets.json');
/** The Prometheus that `nuri monitoring up` runs: its config, data, log and pid (git-ignored). */
const prometheusDir = join(cacheDir, 'prometheus');
const pidFile = join(prometheusDir, 'prometheus.pid');
const logFile = join(prometheusDir, 'prometheus.log');
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 20_000;

/** One file-SD group: Prometheus scrapes each target and adds the labels to its series and to `up`. */
export interface TargetGroup {
  targets: string[];
  labels: { service: string; nuri_instance: string };
}

/**
 * Every instance not stopped on purpose, each scraped at its own port (the
 * gateway's ops port): one that is restarting stays listed, so its `up`
 * goes to 0 and the alerts see it. `addressOf` maps an instance's name to
 * its host:port (the topology knows the hosts).
 */
export function targetGroupsOf(
  instances: readonly InstanceStatus[],
  addressOf: (name: string) => string | undefined,
): TargetGroup[] {
  return instances
    .filter((instance) => instance.state !== 'stopped')
    .flatMap((instance) => {
      const address = addressOf(instance.name);
      return address === undefined
        ? []
        : [{ targets: [address], labels: { service: instance.service, nuri_instance: instance.name } }];
    });
}

/** Writes the targets file whole (a rename), and only when it changed: Prometheus rereads it on each write. */
export function createTargetsWriter(file: string): (groups: readonly TargetGroup[]) => void {
  let last: string | undefined;
  return (groups) => {
    const text = `${JSON.stringify(groups, null, 2)}\n`;
    if (text === last) return;
    last = text;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  };
}

export interface PrometheusConfigOptions {
  targetsFile: string;
  scrapeIntervalSeconds?: number;
  evaluationIntervalSeconds?: number;
}

/**
 * The configuration: the rules of deploy/monitoring/rules and one job over
 * the targets file. `honor_labels` keeps each series' own `service` (the
 * process sets it) instead of renaming it `exported_service`; the target's
 * `service` label still names the instance's `up`.
 */
export function prometheusConfig(options: PrometheusConfigOptions): string {
  const scrape = `${options.scrapeIntervalSeconds ?? 15}s`;
  return stringify({
    global: {
      scrape_interval: scrape,
      scrape_timeout: `${Math.min(10, options.scrapeIntervalSeconds ?? 15)}s`,
      evaluation_interval: `${options.evaluationIntervalSeconds ?? 15}s`,
    },
    rule_files: [join(rulesDir, '*.yml')],
    scrape_configs: [
      {
        job_name: 'nuri',
        honor_labels: true,
        metrics_path: '/metrics',
        file_sd_configs: [{ files: [options.targetsFile], refresh_interval: '30s' }],
      },
    ],
  });
}

export interface PrometheusProcess {
  url: string;
  pid: number;
  /** SIGTERM, then SIGKILL after a while; resolves once it exited. */
  stop(): Promise<void>;
}

export interface StartPrometheusOptions extends PrometheusConfigOptions {
  port: number;
  /** Where its config, data and (when detached) log go. */
  dir: string;
  /** Outlives this process (`nuri monitoring up`); otherwise a child that dies with it. */
  detached?: boolean;
}

/** Starts Prometheus and waits until it answers /-/ready; a start that fails says why, from its log. */
export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusProcess> {
  if (!hasCommand('prometheus')) {
    throw new CliError(`prometheus is not installed (${prometheusInstallHint})`);
  }
  mkdirSync(join(options.dir, 'data'), { recursive: true });
  const configFile = join(options.dir, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(options));
  if (!existsSync(options.targetsFile)) createTargetsWriter(options.targetsFile)([]);
  const log = join(options.dir, 'prometheus.log');
  const output = openSync(log, 'w');
  const url = `http://127.0.0.1:${options.port}`;
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      `--storage.tsdb.retention.time=7d`,
      `--web.listen-address=127.0.0.1:${options.port}`,
      // Its own UI links and redirects: the loopback address it answers on.
      `--web.external-url=${url}`,
    ],
    { detached: options.detached === true, stdio: ['ignore', output, output] },
  );
  if (child.pid === undefined) throw new CliError('could not start prometheus');
  const pid = child.pid;
  if (options.detached === true) child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (!isProcessAlive(pid)) return;
    process.kill(pid, 'SIGTERM');
    const gone = await Promise.race([exited.then(() => true), sleep(stopTimeoutMs).then(() => false)]);
    if (!gone) {
      process.kill(pid, 'SIGKILL');
      await exited;
    }
  };
  const ready = await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error('exited');
      return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) })).ok;
    },
    readyTimeoutMs,
    250,
  );
  if (!ready) {
    await stop();
    const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-15).join('\n');
    throw new CliError(`prometheus did not become ready on ${url}; the end of ${log}:\n${tail}`);
  }
  return { url, pid, stop };
}

/** `nuri monitoring up`: a Prometheus in the background over `npm start`'s targets, unless ours runs already. */
export async function monitoringUp(port: number): Promise<{ url: string; started: boolean }> {
  const url = `http://127.0.0.1:${port}`;
  const running = managedPid();
  if (running !== undefined) {
    say(`Prometheus runs already (pid ${running}): ${url}`);
    return { url, started: false };
  }
  if (await answers(`${url}/-/ready`)) {
    throw new CliError(`something else answers on ${url} already; set NURI_PROMETHEUS_PORT to another port`);
  }
  const prometheus = await startPrometheus({ port, dir: prometheusDir, targetsFile, detached: true });
  writeFileSync(pidFile, `${prometheus.pid}\n`);
  say(
    `Prometheus is up: ${url} (pid ${prometheus.pid}, log ${logFile}); it scrapes what ${targetsFile} lists ` +
      `(npm start keeps it current) and evaluates ${rulesDir}/*.yml`,
  );
  return { url, started: true };
}

/** `nuri monitoring down`: stops the Prometheus that `monitoring up` started; true when there was one. */
export async function monitoringDown(): Promise<boolean> {
  const pid = managedPid();
  if (pid === undefined) {
    say('no Prometheus started by nuri is running');
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const gone = await waitUntil(async () => !isProcessAlive(pid), stopTimeoutMs, 100);
  if (!gone) process.kill(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
  say(`stopped Prometheus (pid ${pid})`);
  return true;
}

/** The pid of the Prometheus that `monitoring up` started, if it still runs (and is still Prometheus). */
function managedPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid) || !isPrometheus(pid)) {
    rmSync(pidFile, { force: true });
    return undefined;
  }
  return pid;
}

function isPrometheus(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('prometheus');
  } catch {
    return true; // no /proc (not Linux): trust the pid file
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}
