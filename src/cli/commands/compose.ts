// `nuri compose up|down`: the whole bank in containers
// (deploy/compose/system.yaml), on loopback ports of its own.
//
// docker compose honours depends_on conditions itself (`up --wait`).
// podman-compose 1.0.3 (Debian 12) ignores them, and podman runs no
// healthcheck on its own without systemd, so with podman the containers are
// created by podman-compose (`up --no-start`: network, volumes, arguments)
// and started here in the order the file states: each as soon as its
// dependencies are healthy (their healthcheck, run here) or have exited 0.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ContainerEngine,
  engineRun,
  missingTools,
  requireEngine,
  runShown,
  treeTag,
} from '../deploy/engine.ts';
import { CliError, say } from '../log.ts';
import { rootDir, secretsDir } from '../paths.ts';
import { ensureDevSecrets, serviceEnvironment } from '../secrets.ts';
import { services } from '../services.ts';
import { buildImages, imageTargets } from './images.ts';

export const composeFile = join(rootDir, 'deploy', 'compose', 'system.yaml');
/** The project (container and volume names); NURI_COMPOSE_PROJECT gives a test a system of its own. */
export const composeProject = process.env.NURI_COMPOSE_PROJECT ?? 'nuri-system';
export const composeEnvDir = join(secretsDir, 'compose');
const defaultGatewayPort = 28_080;
const defaultGatewayOpsPort = 28_090;
/** The whole bring-up, images excluded. */
const upTimeoutMs = 10 * 60_000;
const healthPollMs = 1_000;
/** Any one service, from its start to healthy (Kafka's first start on a busy machine is the slowest). */
const serviceHealthTimeoutMs = 180_000;
/** Restarts before a service counts as crash-looping (podman restarts it on failure meanwhile). */
const crashLoopRestarts = 3;

export const composeUsage = `usage: nuri compose up [--no-build] | down [--volumes]
  up     build the images (cached), then run ${composeFile.slice(rootDir.length + 1)}: the gateway answers on
         127.0.0.1:$NURI_COMPOSE_GATEWAY_PORT (default ${defaultGatewayPort}), its ops port on $NURI_COMPOSE_GATEWAY_OPS_PORT (${defaultGatewayOpsPort})
  down   stop and remove the containers; --volumes also the databases' and Kafka's data`;

export async function compose(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const engine = requireEngine();
  if (action === 'up') {
    const gatewayUrl = await composeUp(engine, { build: !rest.includes('--no-build') });
    say(`Nuri Bank runs in containers: ${gatewayUrl} (npx nuri compose down stops it)`);
    return 0;
  }
  if (action === 'down') {
    await composeDown(engine, { volumes: rest.includes('--volumes') });
    return 0;
  }
  throw new CliError(composeUsage);
}

export interface ComposeSettings {
  /** The images' tag (`:<commit>[-dirty]` of this tree). */
  tag: string;
  gatewayPort: number;
  gatewayOpsPort: number;
}

export function composeSettings(env: NodeJS.ProcessEnv = process.env): ComposeSettings {
  const port = (name: string, fallback: number) => {
    const value = Number(env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 1 || value > 65_535) throw new CliError(`${name} must be a port`);
    return value;
  };
  return {
    tag: env.NURI_IMAGE_TAG ?? treeTag(),
    gatewayPort: port('NURI_COMPOSE_GATEWAY_PORT', defaultGatewayPort),
    gatewayOpsPort: port('NURI_COMPOSE_GATEWAY_OPS_PORT', defaultGatewayOpsPort),
  };
}

function composeEnvironment(engine: ContainerEngine, settings: ComposeSettings): NodeJS.ProcessEnv {
  return {
    ...engine.env,
    NURI_IMAGE_TAG: settings.tag,
    NURI_COMPOSE_ENV_DIR: composeEnvDir,
    NURI_COMPOSE_GATEWAY_PORT: String(settings.gatewayPort),
    NURI_COMPOSE_GATEWAY_OPS_PORT: String(settings.gatewayOpsPort),
  };
}

/** The command that runs compose files with this engine, or why there is none. */
function composeCommand(engine: ContainerEngine): [string, ...string[]] {
  if (engine.name === 'docker') return ['docker', 'compose'];
  if (missingTools(['podman-compose']).length > 0) {
    throw new CliError(
      'podman-compose is not installed: apt-get install --no-install-recommends podman-compose',
    );
  }
  return ['podman-compose'];
}

/**
 * Each service's share of the development secrets (.nuri/secrets.env), one
 * env file each, readable by the owner only: what a service container gets
 * and nothing more, as `npm start` hands it (serviceEnvironment).
 */
export function writeEnvFiles(): void {
  const secrets = ensureDevSecrets();
  mkdirSync(composeEnvDir, { recursive: true, mode: 0o700 });
  chmodSync(composeEnvDir, 0o700);
  for (const service of services) {
    const share = serviceEnvironment(service, secrets);
    const file = join(composeEnvDir, `${service.name}.env`);
    const body = Object.entries(share)
      .map(([name, value]) => `${name}=${value}`)
      .join('\n');
    writeFileSync(file, `# ${service.name}'s secrets, written by nuri compose up; never commit.\n${body}\n`, {
      mode: 0o600,
    });
    chmodSync(file, 0o600);
  }
}

export async function composeUp(
  engine: ContainerEngine,
  options: { build: boolean; env?: NodeJS.ProcessEnv },
): Promise<string> {
  const settings = composeSettings(options.env);
  const [command, ...prefix] = composeCommand(engine);
  // The tag is fixed once: a commit landing during the build must not point `up` at other images.
  if (options.build) await buildImages(engine, { targets: imageTargets, tag: settings.tag });
  writeEnvFiles();
  const env = composeEnvironment(engine, settings);
  const base = [...prefix, '--project-name', composeProject, '--file', composeFile];
  const gatewayUrl = `http://127.0.0.1:${settings.gatewayPort}`;
  if (engine.name === 'docker') {
    const code = await runShown(command, [...base, 'up', '--detach', '--wait', '--wait-timeout', '600'], {
      env,
      timeoutMs: upTimeoutMs,
    });
    if (code !== 0) throw new CliError(`docker compose up failed (exit ${code}); its output is above`);
    return gatewayUrl;
  }
  say(`creating the containers of ${composeProject} (images :${settings.tag})`);
  // Not --detach: podman-compose 1.0.3 would pass `-d` to `podman create`.
  const created = await runShown(command, [...base, 'up', '--no-start'], { env, timeoutMs: 300_000 });
  const graph = await readGraph();
  // podman-compose exits 0 even when a container could not be created: each is checked.
  for (const service of graph.keys()) {
    const exists = await engineRun(engine, ['container', 'exists', containerOf(service)]);
    if (created !== 0 || exists.code !== 0) {
      throw new CliError(`podman-compose did not create ${containerOf(service)}; its output is above`);
    }
  }
  await startInOrder(engine, graph, Date.now() + upTimeoutMs);
  return gatewayUrl;
}

export async function composeDown(
  engine: ContainerEngine,
  options: { volumes: boolean; env?: NodeJS.ProcessEnv },
): Promise<void> {
  const settings = composeSettings({ NURI_IMAGE_TAG: 'any', ...options.env });
  const [command, ...prefix] = composeCommand(engine);
  const env = composeEnvironment(engine, settings);
  const base = [...prefix, '--project-name', composeProject, '--file', composeFile];
  if (engine.name === 'podman') {
    // podman-compose stops with a 1 s grace: SIGTERM first, with time to drain (all at once).
    const containers = [...(await readGraph()).keys()].map(containerOf);
    await engineRun(engine, ['stop', '--ignore', '--time', '20', ...containers], 120_000);
  }
  const code = await runShown(command, [...base, 'down', ...(options.volumes ? ['--volumes'] : [])], {
    env,
    timeoutMs: 300_000,
  });
  if (code !== 0) throw new CliError(`compose down failed (exit ${code})`);
  // podman-compose 1.0.3 leaves the project's network behind.
  if (engine.name === 'podman')
    await engineRun(engine, ['network', 'rm', '--force', `${composeProject}_default`]);
}

type Condition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

/** Each service of system.yaml with what it waits for, in the file's order. */
export async function readGraph(): Promise<Map<string, Array<[string, Condition]>>> {
  // The CLI runs from a development install, where the YAML parser (a dev dependency) is.
  const { parse } = await import('yaml');
  const file = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as {
    services: Record<string, { depends_on?: Record<string, { condition?: Condition }> }>;
  };
  const graph = new Map<string, Array<[string, Condition]>>();
  for (const [name, service] of Object.entries(file.services)) {
    graph.set(
      name,
      Object.entries(service.depends_on ?? {}).map(([dependency, { condition }]) => [
        dependency,
        condition ?? 'service_started',
      ]),
    );
  }
  for (const [name, dependencies] of graph) {
    for (const [dependency] of dependencies) {
      if (!graph.has(dependency))
        throw new CliError(`${name} depends on ${dependency}, which system.yaml lacks`);
    }
  }
  return graph;
}

/** podman-compose 1.0.3's container name for a service. */
export function containerOf(service: string): string {
  return `${composeProject}_${service}_1`;
}

async function startInOrder(
  engine: ContainerEngine,
  graph: Map<string, Array<[string, Condition]>>,
  deadline: number,
): Promise<void> {
  const startedAt = Date.now();
  const starts = new Map<string, Promise<void>>();
  const conditions = new Map<string, Promise<void>>();
  const conditionOf = (service: string, condition: Condition): Promise<void> => {
    const key = `${service} ${condition}`;
    let promise = conditions.get(key);
    if (promise === undefined) {
      promise = startOf(service).then(() =>
        condition === 'service_healthy'
          ? waitHealthy(engine, service, deadline)
          : condition === 'service_completed_successfully'
            ? waitCompleted(engine, service, deadline)
            : undefined,
      );
      conditions.set(key, promise);
    }
    return promise;
  };
  const startOf = (service: string): Promise<void> => {
    let promise = starts.get(service);
    if (promise === undefined) {
      promise = (async () => {
        await Promise.all(
          graph.get(service)!.map(([dependency, condition]) => conditionOf(dependency, condition)),
        );
        const started = await engineRun(engine, ['start', containerOf(service)], 120_000);
        if (started.code !== 0) throw new CliError(`${service} did not start: ${started.stderr.trim()}`);
        say(`started ${service} (${((Date.now() - startedAt) / 1_000).toFixed(1)} s)`);
      })();
      starts.set(service, promise);
    }
    return promise;
  };
  await Promise.all([...graph.keys()].map(startOf));
  // Nothing waits on the gateway: its own readiness closes the bring-up.
  await waitHealthy(engine, 'gateway', deadline);
  say(`every service is up (${((Date.now() - startedAt) / 1_000).toFixed(1)} s)`);
}

async function waitHealthy(engine: ContainerEngine, service: string, overallDeadline: number): Promise<void> {
  const container = containerOf(service);
  const deadline = Math.min(overallDeadline, Date.now() + serviceHealthTimeoutMs);
  for (;;) {
    const check = await engineRun(engine, ['healthcheck', 'run', container], 30_000);
    if (check.code === 0) return;
    const state = await engineRun(engine, [
      'inspect',
      '--format',
      '{{.State.Status}} {{.RestartCount}}',
      container,
    ]);
    const [status, restarts] = state.stdout.trim().split(' ');
    if (status === 'exited' && !(await restarting(engine, container))) {
      throw new CliError(`${service} exited before it was healthy:\n${await logTail(engine, container)}`);
    }
    // A service that keeps dying will not become healthy by waiting longer.
    if (Number(restarts) >= crashLoopRestarts) {
      throw new CliError(
        `${service} restarted ${restarts} times before it was healthy:\n${await logTail(engine, container)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new CliError(`${service} was not healthy in time:\n${await logTail(engine, container)}`);
    }
    await sleep(healthPollMs);
  }
}

/** A container with `restart: on-failure` that exited is brought back by podman: keep waiting. */
async function restarting(engine: ContainerEngine, container: string): Promise<boolean> {
  const policy = await engineRun(engine, [
    'inspect',
    '--format',
    '{{.HostConfig.RestartPolicy.Name}}',
    container,
  ]);
  return policy.stdout.trim() === 'on-failure';
}

async function waitCompleted(engine: ContainerEngine, service: string, deadline: number): Promise<void> {
  const container = containerOf(service);
  const waited = await engineRun(engine, ['wait', container], Math.max(1_000, deadline - Date.now()));
  const code = waited.stdout.trim();
  if (code !== '0') {
    throw new CliError(
      `${service} ended with ${code || 'no exit code'}:\n${await logTail(engine, container)}`,
    );
  }
  say(`${service} done`);
}

async function logTail(engine: ContainerEngine, container: string): Promise<string> {
  const logs = await engineRun(engine, ['logs', '--tail', '40', container]);
  return (logs.stdout + logs.stderr).trim();
}
