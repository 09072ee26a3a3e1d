import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureMysqlDatabase, ensurePgDatabase } from '@nuri/platform/db';
import type { CliConfig } from '../config.ts';
import { CliError, say } from '../log.ts';
import { createInstanceLogs } from '../logs.ts';
import { createTargetsWriter, targetGroupsOf } from '../monitoring.ts';
import { cacheDir } from '../paths.ts';
import { run, waitUntil } from '../process.ts';
import { environmentWithSecrets, serviceEnvironment } from '../secrets.ts';
import { databaseNameOf, serviceEntry, services } from '../services.ts';
import { writeStatus } from '../status.ts';
import { type InstanceProcessSpec, type RestartPolicy, Supervisor } from '../supervisor.ts';
import { type Hosts, type InstanceSpec, planTopology, type Scale, type Topology } from '../topology.ts';
import { buildWeb } from '../web.ts';

const migrateTimeoutMs = 120_000;
/**
 * V8's code cache of every module a service loads, kept between starts: a
 * restarted instance compiles less, and is back sooner (the supervisor's
 * restarts, `npm start` after `npm start`).
 */
const compileCacheDir = join(cacheDir, 'node-compile');
const healthyTimeoutMs = 90_000;
const healthProbeTimeoutMs = 2_000;

/**
 * Creates each service's database under the names this environment gives
 * (infra up creates the default ones; tests rename them), then runs each
 * service's own migration entry (services/<name>/src/migrate.ts) in turn,
 * each with its own environment (`env` holds every secret; it gets its own).
 */
export async function migrateAll(config: CliConfig, env: NodeJS.ProcessEnv): Promise<void> {
  for (const service of services) {
    const name = databaseNameOf(service, env);
    if (!service.database || name === undefined) continue;
    if (service.database.kind === 'postgres') await ensurePgDatabase(config.NURI_PG_URL, name);
    else await ensureMysqlDatabase(config.NURI_MYSQL_URL, name);
  }
  for (const service of services) {
    const entry = serviceEntry(service, 'migrate.ts');
    if (!existsSync(entry)) continue;
    const result = await runNode(entry, serviceEnvironment(service, env));
    if (result.code !== 0) {
      throw new CliError(
        `migrations of ${service.name} failed:\n${(result.stderr || result.stdout).trim().slice(-3_000)}`,
      );
    }
    say(`migrated ${service.name}`);
  }
}

function runNode(entry: string, env: NodeJS.ProcessEnv) {
  return run(process.execPath, [entry], { timeoutMs: migrateTimeoutMs, env });
}

/** Runs a service's script (reencrypt, …) in the foreground with its output shown; resolves with its exit code. */
export function runScript(entry: string, env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, [entry], { env, stdio: 'inherit' });
  return new Promise((resolveCode) => child.on('exit', (code) => resolveCode(code ?? 1)));
}

export interface RunningSystem {
  /** The gateway's public URL (every gateway instance shares its port). */
  gatewayUrl: string;
  topology: Topology;
  /** Every instance: its state, and signals for tests that inject faults. */
  supervisor: Supervisor;
  stop(): Promise<void>;
  /** Stops every instance of a service on purpose (tests of degraded health); not restarted. */
  stopService(name: string): Promise<void>;
  /** Starts a stopped service's instances again; spawned, not yet ready. No-op while they run. */
  startService(name: string): void;
  /** Resolves when the instance is ready again (after a restart), rejects after the timeout. */
  waitUntilReady(instanceName: string, timeoutMs: number): Promise<void>;
}

export interface StartOptions {
  onOutputLine?: (instance: string, line: string) => void;
  /** Instances per service; absent ones run once. */
  scale?: Scale;
  /** Written on every change of an instance's state, for `nuri status` (npm start only). */
  statusFile?: string;
  /** Prometheus' file-SD targets, rewritten as instances start, restart and stop (monitoring.ts). */
  targetsFile?: string;
  /** Each instance's output lines are also appended to `<logDir>/<instance>.log` (for `nuri trace`). */
  logDir?: string;
  restartPolicy?: RestartPolicy;
  /** Where each service's instances listen, when not on loopback (topology.ts `Hosts`). */
  hosts?: Hosts;
  /**
   * Changes an instance's process before it is started: the chaos run starts
   * the core zone's instances inside a network namespace (a command prefix)
   * with the addresses they reach the infrastructure at from there.
   */
  placeInstance?: (instance: InstanceSpec, spec: InstanceProcessSpec) => InstanceProcessSpec;
}

/**
 * Starts every instance of every service as its own supervised process, then
 * waits until each is ready and the gateway reports every service healthy.
 * A start that cannot succeed (an instance crash-looping while starting, or
 * the timeout) stops everything and throws, quoting the culprit's last lines.
 */
export async function startSystem(
  config: CliConfig,
  baseEnv: NodeJS.ProcessEnv = process.env,
  options: StartOptions = {},
): Promise<RunningSystem> {
  const env = environmentWithSecrets(baseEnv);
  await buildWeb();
  await migrateAll(config, env);
  const present = new Set(
    services
      .filter((service) => existsSync(serviceEntry(service, 'server.ts')))
      .map((service) => service.name),
  );
  const topology = planTopology(options.scale ?? {}, env, options.hosts);
  const instances = topology.instances.filter((instance) => present.has(instance.service.name));
  const statusFile = options.statusFile;
  const startedAt = Date.now();
  const writeTargets =
    options.targetsFile === undefined ? undefined : createTargetsWriter(options.targetsFile);
  const addresses = new Map(instances.map((instance) => [instance.name, new URL(instance.url).host]));
  const logs = options.logDir === undefined ? undefined : createInstanceLogs(options.logDir);
  const supervisor = new Supervisor({
    nameWidth: Math.max(...instances.map((instance) => instance.name.length)),
    ...(options.restartPolicy === undefined ? {} : { restartPolicy: options.restartPolicy }),
    ...(options.onOutputLine === undefined ? {} : { onOutputLine: options.onOutputLine }),
    ...(statusFile === undefined && writeTargets === undefined
      ? {}
      : {
          onChange: (list) => {
            if (statusFile !== undefined)
              writeStatus(statusFile, { startedAt, gatewayUrl: topology.gatewayUrl, instances: list });
            writeTargets?.(targetGroupsOf(list, (name) => addresses.get(name)));
          },
        }),
    ...(logs === undefined ? {} : { tap: logs.write }),
  });
  const place = options.placeInstance ?? ((_: InstanceSpec, spec: InstanceProcessSpec) => spec);
  for (const instance of instances) {
    const spec: InstanceProcessSpec = {
      name: instance.name,
      service: instance.service.name,
      index: instance.index,
      port: instance.port,
      command: process.execPath,
      args: [serviceEntry(instance.service, 'server.ts')],
      env: {
        ...serviceEnvironment(instance.service, env),
        NODE_COMPILE_CACHE: env.NODE_COMPILE_CACHE ?? compileCacheDir,
        ...topology.environmentOf(instance),
      },
      readyUrl: `${instance.url}/health/ready`,
    };
    supervisor.start(place(instance, spec));
  }
  const gatewayUrls = instances
    .filter((instance) => instance.service.name === 'gateway')
    .map((instance) => instance.url);
  await waitForStart(supervisor, topology.gatewayUrl, gatewayUrls);
  return {
    gatewayUrl: topology.gatewayUrl,
    topology,
    supervisor,
    async stop() {
      await supervisor.stopAll();
      await logs?.close();
    },
    async stopService(name) {
      await Promise.all(instancesOf(supervisor, name).map((instance) => supervisor.stop(instance.name)));
    },
    startService(name) {
      for (const instance of instancesOf(supervisor, name)) supervisor.resume(instance.name);
    },
    async waitUntilReady(instanceName, timeoutMs) {
      const ready = await waitUntil(
        async () => supervisor.status(instanceName).state === 'ready',
        timeoutMs,
        100,
      );
      if (!ready) throw new CliError(`${instanceName} was not ready within ${timeoutMs} ms`);
    },
  };
}

function instancesOf(supervisor: Supervisor, service: string) {
  const found = supervisor.list().filter((instance) => instance.service === service);
  if (found.length === 0) throw new CliError(`no service named ${service}`);
  return found;
}

/** Every instance ready, and every gateway instance (each has its own view) sees every instance ready. */
async function waitForStart(
  supervisor: Supervisor,
  gatewayUrl: string,
  gatewayUrls: string[],
): Promise<void> {
  const deadline = Date.now() + healthyTimeoutMs;
  for (;;) {
    const list = supervisor.list();
    const looping = list.find((instance) => instance.state === 'crash-looping');
    if (looping !== undefined) {
      await supervisor.stopAll();
      throw new CliError(
        `the system could not start: ${looping.name} is crash-looping (${looping.restarts} exits while starting); its last lines:\n${supervisor.recentLines(looping.name).join('\n')}`,
      );
    }
    if (
      list.every((instance) => instance.state === 'ready') &&
      (await Promise.all(gatewayUrls.map((url) => isHealthy(url).catch(() => false)))).every(Boolean)
    ) {
      return;
    }
    if (Date.now() > deadline) {
      const body = await fetch(`${gatewayUrl}/health`, { signal: AbortSignal.timeout(healthProbeTimeoutMs) })
        .then((response) => response.text())
        .catch((error: Error) => error.message);
      const waiting = list.filter((instance) => instance.state !== 'ready');
      const lines = waiting
        .map(
          (instance) =>
            `${instance.name} (${instance.state}):\n${supervisor.recentLines(instance.name).slice(-10).join('\n')}`,
        )
        .join('\n');
      await supervisor.stopAll();
      throw new CliError(
        `the system did not become healthy within ${healthyTimeoutMs} ms; gateway /health said: ${body}; not ready: ${waiting.map((instance) => instance.name).join(', ') || 'none'}\n${lines}`,
      );
    }
    await sleep(250);
  }
}

/** The gateway answers 200 and sees every instance of every service ready (its probes run once a second). */
export async function isHealthy(gatewayUrl: string): Promise<boolean> {
  const response = await fetch(`${gatewayUrl}/health`, { signal: AbortSignal.timeout(healthProbeTimeoutMs) });
  const body = (await response.json()) as { instances?: Record<string, { ready: number; total: number }> };
  return (
    response.status === 200 &&
    Object.values(body.instances ?? {}).every((count) => count.ready === count.total)
  );
}
