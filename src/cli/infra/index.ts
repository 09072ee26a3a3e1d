import { allTopics, dlqTopic } from '@nuri/contracts/events';
import { ensureMysqlDatabase, ensurePgDatabase } from '@nuri/platform/db';
import { ensureTopics } from '@nuri/platform/kafka/admin';
import { dlqReplaysTopic } from '@nuri/platform/kafka/dlq';
import { type CliConfig, kafkaBrokerList } from '../config.ts';
import { say } from '../log.ts';
import { services } from '../services.ts';
import type { Component } from './component.ts';
import { kafkaComponent } from './kafka.ts';
import { mariadbComponent } from './mariadb.ts';
import { postgresComponent } from './postgres.ts';
import { redisComponent } from './redis.ts';

export function infraComponents(config: CliConfig): Component[] {
  return [
    postgresComponent(config.NURI_PG_URL),
    mariadbComponent(config.NURI_MYSQL_URL),
    redisComponent(config.NURI_REDIS_URL),
    kafkaComponent(kafkaBrokerList(config)),
  ];
}

export interface InfraUpResult {
  /** Components that were down and that this call started. */
  started: Component[];
}

/**
 * Brings every component up (using what already answers), then creates the
 * service databases and the Kafka topics. Idempotent: when all is running it
 * only checks, which takes well under a few seconds.
 */
export async function infraUp(config: CliConfig): Promise<InfraUpResult> {
  const components = infraComponents(config);
  const versions = await Promise.all(components.map((component) => component.probe()));
  const down = components.filter((_, index) => versions[index] === null);
  const started: Component[] = [];
  // Started one at a time: each may need a minute (Kafka's first jar fetch),
  // and their messages read better in order. The slow ones go last.
  for (const component of down) {
    await component.start();
    started.push(component);
  }
  await createDatabases(config);
  await createTopics(config);
  return { started };
}

async function createDatabases(config: CliConfig): Promise<void> {
  for (const service of services) {
    if (!service.database) continue;
    const created =
      service.database.kind === 'postgres'
        ? await ensurePgDatabase(config.NURI_PG_URL, service.database.name)
        : await ensureMysqlDatabase(config.NURI_MYSQL_URL, service.database.name);
    if (created) say(`created database ${service.database.name} (${service.database.kind})`);
  }
}

async function createTopics(config: CliConfig): Promise<void> {
  const names = allTopics.flatMap((topic) => [topic, dlqTopic(topic)]);
  await ensureTopics({
    brokers: kafkaBrokerList(config),
    topics: [
      ...names.map((name) => ({ name, partitions: config.NURI_KAFKA_PARTITIONS })),
      // The audit of DLQ replays (nuri dlq replay): one partition keeps it in order.
      { name: dlqReplaysTopic, partitions: 1 },
    ],
  });
}

/** Stops what nuri runs itself: the Kafka broker. Databases and Redis are shared and stay up. */
export async function infraDown(config: CliConfig): Promise<void> {
  const kafka = infraComponents(config).find((component) => component.name === 'kafka');
  const stopped = (await kafka?.stop?.()) ?? false;
  say(stopped ? 'Kafka stopped' : 'no Kafka broker started by nuri is running');
}

/** Stops the components that an `up` in this process started (used by `start` and `test`). */
export async function stopStarted(result: InfraUpResult): Promise<void> {
  for (const component of [...result.started].reverse()) {
    if (component.stop) await component.stop();
  }
}

export async function infraStatus(config: CliConfig): Promise<boolean> {
  const components = infraComponents(config);
  const versions = await Promise.all(components.map((component) => component.probe()));
  const rows = components.map((component, index) => {
    const version = versions[index];
    const detail = version ? component.describe?.() : '';
    return [component.name, version ? 'up' : 'DOWN', component.address, version ?? '-', detail ?? ''];
  });
  const widths = [12, 6, 22, 34];
  const format = (cells: string[]) =>
    cells
      .map((cell, index) => cell.padEnd(widths[index] ?? 0))
      .join(' ')
      .trimEnd();
  process.stdout.write(`${format(['component', 'state', 'address', 'version', 'detail'])}\n`);
  for (const row of rows) process.stdout.write(`${format(row)}\n`);
  return versions.every((version) => version !== null);
}
