import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ensureMysqlDatabase, ensurePgDatabase } from '@nuri/platform/db';
import type { CliConfig } from '../config.ts';
import { CliError, say } from '../log.ts';
import { run, waitUntil } from '../process.ts';
import { environmentWithSecrets } from '../secrets.ts';
import { databaseNameOf, type ServiceSpec, serviceEntry, services } from '../services.ts';
import { Supervisor } from '../supervisor.ts';

const migrateTimeoutMs = 120_000;
const healthyTimeoutMs = 90_000;
const healthProbeTimeoutMs = 2_000;
const recentLinesMax = 30;

/**
 * Creates each service's database under the names this environment gives
 * (infra up creates the default ones; tests rename them), then runs each
 * service's own migration entry (services/<name>/src/migrate.ts) in turn.
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
    const result = await runNode(entry, env);
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
  gatewayUrl: string;
  stop(): Promise<void>;
  /** Stops one service on purpose (tests of degraded health); not reported as a crash. */
  stopService(name: string): Promise<void>;
  /** Starts a stopped service again (tests of recovery); spawned, not yet ready. No-op while it runs. */
  startService(name: string): void;
  /** Resolves with the service's name when one dies unexpectedly. */
  crashed: Promise<string>;
}

/** Starts every service that exists as its own process, then waits until the gateway reports all healthy. */
export async function startSystem(
  config: CliConfig,
  baseEnv: NodeJS.ProcessEnv = process.env,
  options: { onOutputLine?: (service: string, line: string) => void } = {},
): Promise<RunningSystem> {
  const env = environmentWithSecrets(baseEnv);
  await migrateAll(config, env);
  let reportCrash: (name: string) => void = () => undefined;
  const crashed = new Promise<string>((resolveCrash) => {
    reportCrash = resolveCrash;
  });
  const present = services.filter((service) => existsSync(serviceEntry(service, 'server.ts')));
  // The last lines of each service, so a failed start says why, even when a
  // test captures the output instead of printing it.
  const recentLines = new Map<string, string[]>();
  const remember = (service: string, line: string) => {
    const lines = recentLines.get(service) ?? [];
    lines.push(line);
    if (lines.length > recentLinesMax) lines.shift();
    recentLines.set(service, lines);
  };
  let crashedName: string | undefined;
  const supervisor = new Supervisor({
    nameWidth: Math.max(...present.map((service) => service.name.length)),
    onUnexpectedExit(name, code, signal) {
      say(`${name} exited unexpectedly (${signal ?? `code ${code}`})`);
      crashedName ??= name;
      reportCrash(name);
    },
    tap: remember,
    ...(options.onOutputLine === undefined ? {} : { onOutputLine: options.onOutputLine }),
  });
  const processSpec = (service: ServiceSpec) => ({
    name: service.name,
    command: process.execPath,
    args: [serviceEntry(service, 'server.ts')],
    env,
  });
  for (const service of present) supervisor.start(processSpec(service));
  const gatewayUrl = `http://127.0.0.1:${config.NURI_GATEWAY_PORT}`;
  const healthy = await Promise.race([
    waitUntil(() => isHealthy(gatewayUrl), healthyTimeoutMs, 300),
    crashed.then(() => false),
  ]);
  if (!healthy) {
    const body = await fetch(`${gatewayUrl}/health`, { signal: AbortSignal.timeout(healthProbeTimeoutMs) })
      .then((response) => response.text())
      .catch((error: Error) => error.message);
    await supervisor.stopAll();
    const culprit =
      crashedName === undefined ? 'no service exited' : `${crashedName} exited; its last lines:`;
    const tail = crashedName === undefined ? '' : `\n${(recentLines.get(crashedName) ?? []).join('\n')}`;
    throw new CliError(
      `the system did not become healthy within ${healthyTimeoutMs} ms; gateway /health said: ${body}; ${culprit}${tail}`,
    );
  }
  return {
    gatewayUrl,
    crashed,
    stop: () => supervisor.stopAll(),
    stopService: (name) => supervisor.stop(name),
    startService: (name) => {
      const service = present.find((candidate) => candidate.name === name);
      if (service === undefined) throw new CliError(`no service named ${name}`);
      if (!supervisor.isRunning(name)) supervisor.start(processSpec(service));
    },
  };
}

async function isHealthy(gatewayUrl: string): Promise<boolean> {
  const response = await fetch(`${gatewayUrl}/health`, { signal: AbortSignal.timeout(healthProbeTimeoutMs) });
  await response.arrayBuffer();
  return response.status === 200;
}
