import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { allTopics, dlqTopic } from '@nuri/contracts/events';
import { dropMysqlDatabase, dropPgDatabase } from '@nuri/platform/db';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { dlqReplaysTopic } from '@nuri/platform/kafka/dlq';
import { type RunningSystem, type StartOptions, startSystem } from '../src/cli/commands/system.ts';
import { type CliConfig, kafkaBrokerList, loadCliConfig } from '../src/cli/config.ts';
import { type DatabaseKind, databaseNameOf, services } from '../src/cli/services.ts';
import type { RestartPolicy } from '../src/cli/supervisor.ts';
import { planTopology, portsOf, type Scale } from '../src/cli/topology.ts';

/**
 * The whole system as `npm start` runs it (every service its own process),
 * isolated for a test run: ports offset from the defaults (a developer's
 * `npm start` keeps running), throwaway databases (no state from earlier runs
 * or other keys), and topics and consumer groups of its own (a running dev
 * system or another test system neither steals nor answers its events).
 */
export interface TestSystem extends RunningSystem {
  env: NodeJS.ProcessEnv;
  /** The run's throwaway databases, which shutdown() drops. */
  databases: string[];
  /** Stops every service and drops the throwaway databases. */
  shutdown(): Promise<void>;
}

// Every consumer group a service reads with: each gets a per-run name.
const groupVariables = [
  'NURI_CHANNEL_DEPOSITS_GROUP_ID',
  'NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID',
  'NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID',
  'NURI_CORE_PAYMENT_COUPONS_GROUP_ID',
  'NURI_COUPON_EVENTS_GROUP_ID',
  'NURI_POINT_SETTLED_GROUP_ID',
];
// Each run has topics of its own (NURI_KAFKA_TOPIC_PREFIX): two systems on one
// broker would otherwise settle each other's deposits (one's core answers
// ACCOUNT_NOT_FOUND to the other's requests) and a new group would replay
// every earlier run's events.
const runTopicPartitions = 2;

export function testSystemEnvironment(portOffset: number, runId: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NURI_LOG_LEVEL: process.env.NURI_E2E_LOG_LEVEL ?? 'warn' };
  // Every test client is 127.0.0.1: the per-IP signup and login limits (sized
  // for a household) are raised; a test of those limits sets them itself.
  env.NURI_GATEWAY_SIGNUP_LIMIT_PER_IP ??= '100000';
  env.NURI_GATEWAY_LOGIN_LIMIT_PER_IP ??= '100000';
  // The gateway's periodic reconciliation (for the alert rules) reads every
  // ledger: off in test systems unless a test asks (e2e/monitoring.test.ts).
  env.NURI_GATEWAY_RECONCILE_INTERVAL_MS ??= '0';
  for (const service of services) {
    env[service.portVariable] = String(service.defaultPort + portOffset);
    env[`NURI_${service.name.toUpperCase().replaceAll('-', '_')}_URL`] =
      `http://127.0.0.1:${service.defaultPort + portOffset}`;
    if (service.database) env[service.database.variable] = `${service.database.name}_e2e_${runId}`;
  }
  for (const variable of groupVariables) env[variable] = `e2e.${runId}.${variable.toLowerCase()}`;
  env.NURI_KAFKA_TOPIC_PREFIX = topicPrefixOf(runId);
  return env;
}

export interface TestSystemOptions {
  /** Names the run's databases (`*_e2e_<runId>`), topics and groups; random by default. */
  runId?: string;
  onOutputLine?: (instance: string, line: string) => void;
  envOverrides?: NodeJS.ProcessEnv;
  /** Instances per service (`{ coupon: 3 }`); absent ones run once. */
  scale?: Scale;
  restartPolicy?: RestartPolicy;
  /** Prometheus' file-SD targets, rewritten as instances start and stop (e2e/monitoring.test.ts). */
  targetsFile?: string;
  /** Each instance's output also appended to `<logDir>/<instance>.log` (e2e/tracing.test.ts). */
  logDir?: string;
  /** Where each service's instances listen, when not on loopback, and how their processes start (chaos/zone.ts). */
  hosts?: StartOptions['hosts'];
  placeInstance?: StartOptions['placeInstance'];
}

export async function startTestSystem(options: TestSystemOptions = {}): Promise<TestSystem> {
  const runId = options.runId ?? randomBytes(4).toString('hex');
  const scale = options.scale ?? {};
  const ports = await reservePortOffset(scale);
  const baseEnv = { ...testSystemEnvironment(ports.offset, runId), ...options.envOverrides };
  // The URL variables list every instance, as each service is told (reconcile and tests ask any of them).
  const env = { ...baseEnv, ...planTopology(scale, baseEnv, options.hosts).callerEnvironment };
  const config = loadCliConfig(env);
  const brokers = kafkaBrokerList(config);
  const runTopics = [...allTopics.flatMap((topic) => [topic, dlqTopic(topic)]), dlqReplaysTopic].map(
    (topic) => `${topicPrefixOf(runId)}${topic}`,
  );
  try {
    await ensureTopics({
      brokers,
      topics: runTopics.map((name) => ({ name, partitions: runTopicPartitions })),
    });
  } catch (error) {
    await ports.release();
    throw error;
  }
  const cleanUp = async () => {
    try {
      await dropDatabases(config, env);
      await deleteTopics(brokers, runTopics);
    } finally {
      await ports.release();
    }
  };
  let system: RunningSystem;
  try {
    system = await startSystem(config, env, {
      scale,
      ...(options.onOutputLine === undefined ? {} : { onOutputLine: options.onOutputLine }),
      ...(options.restartPolicy === undefined ? {} : { restartPolicy: options.restartPolicy }),
      ...(options.targetsFile === undefined ? {} : { targetsFile: options.targetsFile }),
      ...(options.logDir === undefined ? {} : { logDir: options.logDir }),
      ...(options.hosts === undefined ? {} : { hosts: options.hosts }),
      ...(options.placeInstance === undefined ? {} : { placeInstance: options.placeInstance }),
    });
  } catch (error) {
    await cleanUp();
    throw error;
  }
  // Once, however many ask (a Ctrl-C's stop and the run's own finally may both):
  // and the databases and topics go even when stopping an instance failed.
  let stopped: Promise<void> | undefined;
  return {
    ...system,
    env,
    databases: runDatabases(env).map((database) => database.name),
    shutdown() {
      stopped ??= (async () => {
        try {
          await system.stop();
        } finally {
          await cleanUp();
        }
      })();
      return stopped;
    },
  };
}

// Services run detached (their own process group), so a test process that is
// killed would leave them running. Exiting on these signals instead runs the
// supervisor's exit hook, which SIGKILLs every instance it started. A program
// that handles the signal itself (the bench: it stops its system and drops its
// databases first) is left to do so: the harness exits only when no one else listens.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    if (process.listenerCount(signal) > 0) return;
    process.exit(128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 1));
  });
}

function topicPrefixOf(runId: string): string {
  return `e2e.${runId}.`;
}

// Test files run in parallel processes, each with a whole system: each picks
// an offset whose every port is free right now and holds it by listening on
// the offset's reservation port (offset + 8000, never a service port of any
// offset) until its system is gone. Checking alone was a race: two files
// could both find one offset free before either listened. The operating
// system frees the reservation if a test process dies. Every port stays
// below Linux's ephemeral range (32768–60999): an outgoing connection's
// local port there once took a bench system's service port between the
// check and the listen (EADDRINUSE, the service crash-looped).
const offsetStepPorts = 1_000;
const offsetChoices = 15;
const offsetTriesMax = 40;
/** Every offset a test system may get. */
export const portOffsets: readonly number[] = Array.from(
  { length: offsetChoices },
  (_, index) => 10_000 + offsetStepPorts * index,
);
export const reservationPortOf = (offset: number) => offset + 8_000;

export interface PortReservation {
  offset: number;
  release(): Promise<void>;
}

export async function reservePortOffset(scale: Scale = {}): Promise<PortReservation> {
  for (let attempt = 0; attempt < offsetTriesMax; attempt += 1) {
    const offset = portOffsets[Math.floor(Math.random() * portOffsets.length)]!;
    const reservation = await listenOn(reservationPortOf(offset));
    if (reservation === undefined) continue;
    const ports = portsOf(planTopology(scale, testSystemEnvironment(offset, 'ports')));
    const free = await Promise.all(ports.map(isPortFree));
    if (free.every(Boolean)) return { offset, release: () => closeServer(reservation) };
    await closeServer(reservation);
  }
  throw new Error('no free port range for a test system');
}

/** A server listening on the port, or undefined when the port is taken. */
function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(undefined));
    // Held for as long as the system runs, but never what keeps a test process alive.
    server.listen(port, '127.0.0.1', () => resolvePromise(server.unref()));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolvePromise) => server.close(() => resolvePromise()));
}

async function isPortFree(port: number): Promise<boolean> {
  const server = await listenOn(port);
  if (server === undefined) return false;
  await closeServer(server);
  return true;
}

/** The databases a run's services use, by name and kind (from the run's environment). */
function runDatabases(env: NodeJS.ProcessEnv): Array<{ name: string; kind: DatabaseKind }> {
  return services.flatMap((service) => {
    const name = databaseNameOf(service, env);
    return service.database === undefined || name === undefined
      ? []
      : [{ name, kind: service.database.kind }];
  });
}

async function dropDatabases(config: CliConfig, env: NodeJS.ProcessEnv): Promise<void> {
  for (const { name, kind } of runDatabases(env)) {
    if (kind === 'postgres') await dropPgDatabase(config.NURI_PG_URL, name);
    else await dropMysqlDatabase(config.NURI_MYSQL_URL, name);
  }
}

/** One answer of the system under test: status, headers, the body as text and, when it is JSON, parsed. */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test-side JSON access
  body: any;
}

export interface HttpCallOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is (content-type JSON unless `headers` name one): for malformed bodies. */
  raw?: string;
  headers?: Record<string, string>;
}

/**
 * A client of the system under test for the e2e suites: `baseUrl()` is read
 * on every call (the system starts in a `before` hook), and `onText` sees
 * every answer's body (a suite that scans all it was shown for personal data).
 */
export function httpClient(baseUrl: () => string, onText?: (text: string) => void) {
  return async function http(
    method: string,
    path: string,
    options: HttpCallOptions = {},
  ): Promise<HttpAnswer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = await response.text();
    onText?.(text);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, headers: response.headers, text, body };
  };
}
