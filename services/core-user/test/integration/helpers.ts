import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import {
  createPgDatabase,
  type Database,
  dropPgDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { sql } from 'kysely';
import { type AppDeps, buildApp } from '../../src/app.ts';
import { parsePiiKeyring } from '../../src/crypto/pii-cipher.ts';
import type { ServiceDb } from '../../src/db/database.ts';
import { migrations } from '../../src/db/migrations.ts';

export const pgServerUrl = 'postgres://postgres@127.0.0.1:5432';
const pgAdminUrl = `${pgServerUrl}/postgres`;

export const internalToken = randomBytes(32).toString('base64url');
export const auth = { authorization: `Bearer ${internalToken}` };

export function newKey(): string {
  return randomBytes(32).toString('base64url');
}

/** A throwaway, migrated database for one test file; dropped when the file's tests end. */
export async function createTestDatabase(): Promise<{ database: Database<ServiceDb>; name: string }> {
  const name = `nuri_core_user_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await ensurePgDatabase(pgAdminUrl, name);
  const database = createPgDatabase<ServiceDb>({
    url: `${pgServerUrl}/${name}`,
    poolSizeMax: 25,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
    applicationName: 'core-user-test',
  });
  after(async () => {
    await database.close();
    await dropPgDatabase(pgAdminUrl, name);
  });
  await migrateToLatest(database.db, migrations);
  return { database, name };
}

export type Keys = { piiKeys: string; activeKeyId: string; blindIndexKey: string };

export function newKeys(): Keys {
  return { piiKeys: `k1:${newKey()}`, activeKeyId: 'k1', blindIndexKey: newKey() };
}

/** The app as server.ts builds it, logging into `logLines` so tests can search the logs. */
export function buildTestApp(database: Database<ServiceDb>, keys: Keys) {
  const logLines: string[] = [];
  const logger = createLogger({
    name: 'core-user',
    level: 'debug',
    destination: { write: (line: string) => void logLines.push(line) },
  });
  const deps: AppDeps = {
    logger,
    metrics: createMetrics('core-user'),
    database,
    internalCallers: { 'channel-user': internalToken },
    piiKeyring: parsePiiKeyring(keys.piiKeys, keys.activeKeyId),
    blindIndexKey: Buffer.from(keys.blindIndexKey, 'base64url'),
  };
  const app = buildApp(deps);
  after(() => app.close());
  return { app, logLines, deps };
}

export type UserRow = {
  user_uuid: string;
  rrn_blind_index: Buffer;
  name_ciphertext: Buffer;
  rrn_ciphertext: Buffer;
  phone_ciphertext: Buffer | null;
  pii_key_id: string;
  status: 'RESERVED' | 'CONFIRMED';
  reserved_until: Date | null;
  verification: string;
};

export async function selectUsers(database: Database<ServiceDb>): Promise<UserRow[]> {
  return database.db.selectFrom('users').selectAll().orderBy('user_uuid').execute();
}

/** Every row as PostgreSQL prints it: what a dump or a curious DBA would see. */
export async function dumpUsersTable(database: Database<ServiceDb>): Promise<string> {
  const result = await sql<{ row: string }>`select t::text as row from users t`.execute(database.db);
  return result.rows.map((row) => row.row).join('\n');
}
