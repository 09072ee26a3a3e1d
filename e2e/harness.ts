import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { topics } from '@nuri/contracts/events';
import { dropMysqlDatabase, dropPgDatabase } from '@nuri/platform/db';
import { startGroupsAtEnd } from '@nuri/platform/kafka/admin';
import { type RunningSystem, startSystem } from '../src/cli/commands/system.ts';
import { type CliConfig, kafkaBrokerList, loadCliConfig } from '../src/cli/config.ts';
import { databaseNameOf, services } from '../src/cli/services.ts';

/**
 * The whole system as `npm start` runs it (every service its own process),
 * isolated for a test run: ports offset from the defaults (a developer's
 * `npm start` keeps running), throwaway databases (no state from earlier runs
 * or other keys), and consumer groups of its own (a running dev system does
 * not steal its events). Topics are the real ones.
 */
export interface TestSystem extends RunningSystem {
  env: NodeJS.ProcessEnv;
  /** Stops every service and drops the throwaway databases. */
  shutdown(): Promise<void>;
}

// Every consumer group a service reads with, and the topics it reads: each
// gets a per-run name that starts at the topics' current end, so a run
// neither replays (and re-settles) the history of earlier runs nor shares a
// group with a running dev system.
const consumerGroups: ReadonlyArray<{ variable: string; topics: readonly string[] }> = [
  { variable: 'NURI_CHANNEL_DEPOSITS_GROUP_ID', topics: [topics.depositSettled] },
  { variable: 'NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID', topics: [topics.depositRequested] },
  { variable: 'NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID', topics: [topics.paymentRequested] },
  { variable: 'NURI_CORE_PAYMENT_COUPONS_GROUP_ID', topics: [topics.couponIssued] },
  { variable: 'NURI_COUPON_EVENTS_GROUP_ID', topics: [topics.couponRecorded] },
  { variable: 'NURI_POINT_SETTLED_GROUP_ID', topics: [topics.paymentSettled] },
];

export function testSystemEnvironment(portOffset: number, runId: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NURI_LOG_LEVEL: process.env.NURI_E2E_LOG_LEVEL ?? 'warn' };
  for (const service of services) {
    env[service.portVariable] = String(service.defaultPort + portOffset);
    env[`NURI_${service.name.toUpperCase().replaceAll('-', '_')}_URL`] =
      `http://127.0.0.1:${service.defaultPort + portOffset}`;
    if (service.database) env[service.database.variable] = `${service.database.name}_e2e_${runId}`;
  }
  for (const group of consumerGroups) env[group.variable] = `e2e.${runId}.${group.variable.toLowerCase()}`;
  return env;
}

export async function startTestSystem(
  options: { onOutputLine?: (service: string, line: string) => void } = {},
): Promise<TestSystem> {
  const runId = randomBytes(4).toString('hex');
  const env = testSystemEnvironment(await freePortOffset(), runId);
  const config = loadCliConfig(env);
  await startGroupsAtEnd(
    kafkaBrokerList(config),
    consumerGroups.map((group) => ({ groupId: env[group.variable]!, topics: group.topics })),
  );
  let system: RunningSystem;
  try {
    system = await startSystem(
      config,
      env,
      options.onOutputLine ? { onOutputLine: options.onOutputLine } : {},
    );
  } catch (error) {
    await dropDatabases(config, env);
    throw error;
  }
  return {
    ...system,
    env,
    async shutdown() {
      await system.stop();
      await dropDatabases(config, env);
    },
  };
}

// Test files run in parallel processes, each with a whole system: each picks
// an offset whose every port is free right now (ports 10080–29203).
const offsetStepPorts = 1_000;
const offsetChoices = 20;
const offsetTriesMax = 20;

async function freePortOffset(): Promise<number> {
  for (let attempt = 0; attempt < offsetTriesMax; attempt += 1) {
    const offset = 10_000 + offsetStepPorts * Math.floor(Math.random() * offsetChoices);
    const free = await Promise.all(services.map((service) => isPortFree(service.defaultPort + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port range for a test system');
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

async function dropDatabases(config: CliConfig, env: NodeJS.ProcessEnv): Promise<void> {
  for (const service of services) {
    const name = databaseNameOf(service, env);
    if (!service.database || name === undefined) continue;
    if (service.database.kind === 'postgres') await dropPgDatabase(config.NURI_PG_URL, name);
    else await dropMysqlDatabase(config.NURI_MYSQL_URL, name);
  }
}
