// The one-shot steps of a deployment, run from a service image: Kubernetes
// Jobs (deploy/k8s) and Compose's one-shot services (deploy/compose).
//   node src/cli/deploy/setup.ts migrate <service>   its database (created when missing), then its migrations
//   node src/cli/deploy/setup.ts topics              every Kafka topic, its dead-letter topic, the replay audit
// Each waits for its server (bounded by NURI_SETUP_WAIT_MS) so that it can
// start together with the infrastructure; what fails after that exits 1.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { allTopics, dlqTopic } from '@nuri/contracts/events';
import { ensureMysqlDatabase, ensurePgDatabase } from '@nuri/platform/db';
import { ensureTopics, waitForBroker } from '@nuri/platform/kafka/admin';
import { dlqReplaysTopic } from '@nuri/platform/kafka/dlq';
import { brokerList } from '@nuri/platform/service';
import { databaseNameOf, type ServiceSpec, serviceEntry, services } from '../services.ts';

const waitMs = Number(process.env.NURI_SETUP_WAIT_MS ?? 120_000);
const retryIntervalMs = 2_000;

async function main([step, name]: string[]): Promise<number> {
  if (step === 'topics') return createTopics();
  const service = services.find((candidate) => candidate.name === name);
  if (step === 'migrate' && service?.database !== undefined) return migrate(service);
  const migratable = services.filter((candidate) => candidate.database).map((candidate) => candidate.name);
  process.stderr.write(`usage: setup.ts migrate <${migratable.join('|')}> | topics\n`);
  return 2;
}

async function migrate(service: ServiceSpec): Promise<number> {
  const database = databaseNameOf(service, process.env)!;
  const created = await retrying(`the ${service.database!.kind} server of ${service.name}`, () =>
    service.database!.kind === 'postgres'
      ? ensurePgDatabase(required('NURI_PG_URL'), database)
      : ensureMysqlDatabase(required('NURI_MYSQL_URL'), database),
  );
  say(created ? `created database ${database}` : `database ${database} exists`);
  // The service's own migrate.ts, with this process's environment (its ConfigMap and Secret).
  const child = spawn(process.execPath, [serviceEntry(service, 'migrate.ts')], { stdio: 'inherit' });
  const code = await new Promise<number>((resolve) => child.on('close', (exit) => resolve(exit ?? 1)));
  say(code === 0 ? `migrated ${service.name}` : `migrations of ${service.name} failed (exit ${code})`);
  return code;
}

async function createTopics(): Promise<number> {
  const brokers = brokerList(process.env.NURI_KAFKA_BROKERS ?? '127.0.0.1:9092');
  const partitions = Number(process.env.NURI_KAFKA_PARTITIONS ?? 6);
  await waitForBroker(brokers, waitMs);
  const created = await ensureTopics({
    brokers,
    topics: [
      ...allTopics.flatMap((topic) => [topic, dlqTopic(topic)]).map((name) => ({ name, partitions })),
      // The audit of DLQ replays: one partition keeps it in order.
      { name: dlqReplaysTopic, partitions: 1 },
    ],
  });
  say(created.length === 0 ? 'every topic exists' : `created topics ${created.join(', ')}`);
  return 0;
}

async function retrying<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() + retryIntervalMs > deadline) throw error;
      say(`waiting for ${what}: ${error instanceof Error ? error.message : String(error)}`);
      await sleep(retryIntervalMs);
    }
  }
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

function say(message: string): void {
  process.stderr.write(`setup: ${message}\n`);
}

process.exitCode = await main(process.argv.slice(2));
