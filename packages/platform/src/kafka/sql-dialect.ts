import { type Kysely, MysqlAdapter, PostgresAdapter } from 'kysely';
import type { DatabaseDialect } from '../db.ts';

/** Which SQL flavour a Kysely instance (or transaction) speaks, from its adapter. */
export function dialectOf<DB>(db: Kysely<DB>): DatabaseDialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof MysqlAdapter) return 'mysql';
  throw new Error(`unsupported SQL dialect adapter ${adapter.constructor.name}`);
}
