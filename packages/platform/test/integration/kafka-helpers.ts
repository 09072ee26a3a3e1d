import { connect, createServer, type Server, type Socket } from 'node:net';
import { createEvent, newEventId } from '@nuri/contracts/events';
import { pino } from 'pino';
import {
  createMysqlDatabase,
  createPgDatabase,
  type Database,
  type DatabaseDialect,
  dropMysqlDatabase,
  dropPgDatabase,
  ensureMysqlDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '../../src/db.ts';
import { type OutboxDatabase, outboxMigrations } from '../../src/kafka/outbox.ts';
import { readTopicFrom, uniqueName, waitUntil } from '../../src/testing.ts';

export const brokers = ['127.0.0.1:9092'];
export const pgAdminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
export const mysqlAdminUrl = 'mysql://root@127.0.0.1:3306/';
export const silentLogger = pino({ level: 'silent' });

/** Short group timings so the first join takes well under a second on the test broker. */
export const fastGroupTimings = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 6_000,
  fetchWaitMs: 100,
  lagIntervalMs: 0,
} as const;

/** Reads a topic from the beginning until `count` messages arrived (then a little longer, to catch extras). */
export function readTopic(topic: string, count: number, timeoutMs: number, settleMs = 0) {
  return readTopicFrom(brokers, topic, count, timeoutMs, settleMs);
}

/** A throwaway database of `name` on the local server of `dialect`; `drop` closes and removes it. */
export async function openThrowawayDatabase<DB>(
  dialect: DatabaseDialect,
  name: string,
  poolSizeMax: number,
): Promise<{ database: Database<DB>; drop: () => Promise<void> }> {
  if (dialect === 'postgres') {
    await ensurePgDatabase(pgAdminUrl, name);
    const database = createPgDatabase<DB>({
      url: `postgres://postgres@127.0.0.1:5432/${name}`,
      poolSizeMax,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 10_000,
      applicationName: 'it-outbox',
    });
    return {
      database,
      async drop() {
        await database.close();
        await dropPgDatabase(pgAdminUrl, name);
      },
    };
  }
  await ensureMysqlDatabase(mysqlAdminUrl, name);
  const database = createMysqlDatabase<DB>({
    url: `mysql://root@127.0.0.1:3306/${name}`,
    poolSizeMax,
    connectTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
  });
  return {
    database,
    async drop() {
      await database.close();
      await dropMysqlDatabase(mysqlAdminUrl, name);
    },
  };
}

/** A throwaway database holding only the outbox, named after `prefix`; `drop` closes and removes it. */
export async function openOutbox(
  dialect: DatabaseDialect,
  prefix: string,
  poolSizeMax = 2,
): Promise<{ database: Database<OutboxDatabase>; drop: () => Promise<void> }> {
  const name = uniqueName(prefix).replaceAll('-', '_').replaceAll('.', '_');
  const opened = await openThrowawayDatabase<OutboxDatabase>(dialect, name, poolSizeMax);
  await migrateToLatest(opened.database.db, outboxMigrations(dialect));
  return opened;
}

export { uniqueName, waitUntil };

/** A deposit.requested numbered `index` (its amount 1,000 + index), made by `source`, for tests that only move events. */
export function depositRequested(index: number, source: string) {
  return createEvent(
    'deposit.requested',
    {
      depositId: newEventId(),
      accountNo: '110-234-567890',
      userUuid: '0190a000-0000-7000-8000-000000000001',
      amount: 1_000 + index,
      requestedAt: new Date().toISOString(),
    },
    { source, correlationId: `c-${index}` },
  );
}

export interface TcpRelay {
  address: string;
  port: number;
  /** Connections relayed to the target so far. */
  accepted(): number;
  /** Connections read and never answered so far. */
  swallowed(): number;
  /** New connections go through to the target. */
  pass(): void;
  /** Cuts every open connection and refuses new ones (a server gone). */
  refuse(): void;
  /** New connections are accepted and never answered (a server hung, or a black hole). */
  swallow(): void;
  close(): Promise<void>;
}

/** A TCP relay on a port of its own to `target` (host:port), for cutting one client's way to a server. */
export async function startTcpRelay(
  target: string,
  mode: 'pass' | 'refuse' | 'swallow' = 'pass',
): Promise<TcpRelay> {
  const [host, port] = target.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let current = mode;
  let accepted = 0;
  let swallowed = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    client.on('error', () => undefined);
    if (current === 'refuse') {
      client.destroy();
      return;
    }
    track(client);
    if (current === 'swallow') {
      swallowed += 1;
      client.resume(); // read and drop: the request is never answered
      return;
    }
    accepted += 1;
    const upstream = connect(Number(port), host);
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const relayPort = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    address: `127.0.0.1:${relayPort}`,
    port: relayPort,
    accepted: () => accepted,
    swallowed: () => swallowed,
    pass() {
      current = 'pass';
    },
    refuse() {
      current = 'refuse';
      for (const socket of sockets) socket.destroy();
    },
    swallow() {
      current = 'swallow';
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
