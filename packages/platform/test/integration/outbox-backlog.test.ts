import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/db.ts';
import { uuidv7 } from '../../src/ids.ts';
import { type OutboxDatabase, readOutboxBacklog } from '../../src/kafka/outbox.ts';
import { openOutbox } from './kafka-helpers.ts';

// What an outbox holds back, as the operator console shows it (GET
// /internal/v1/ops/outbox), on both databases the services use.

async function addRow(
  db: Kysely<OutboxDatabase>,
  dialect: 'postgres' | 'mysql',
  secondsAgo: number,
  published: boolean,
) {
  const postgres = dialect === 'postgres';
  const createdAt = postgres
    ? sql`now() - ${secondsAgo} * interval '1 second'`
    : sql`now(3) - interval ${secondsAgo} second`;
  await sql`insert into outbox (id, topic, ${sql.ref('key')}, payload, created_at, published_at)
    values (${uuidv7()}, 't', 'k', '{}', ${createdAt}, ${published ? sql`${createdAt}` : null})`.execute(db);
}

for (const dialect of ['postgres', 'mysql'] as const) {
  describe(`outbox backlog on ${dialect}`, { timeout: 60_000 }, () => {
    let database: Database<OutboxDatabase>;
    let drop: (() => Promise<void>) | undefined;

    before(async () => {
      ({ database, drop } = await openOutbox(dialect, 'it_outbox_backlog'));
    });

    after(async () => {
      await drop?.();
    });

    it('when nothing waits, then pending is 0 and there is no oldest age', async () => {
      await addRow(database.db, dialect, 500, true);
      assert.deepEqual(await readOutboxBacklog(database.db), { pending: 0, oldestAgeSeconds: null });
    });

    it('when rows wait, then they are counted and the oldest one is aged by the database clock', async () => {
      await addRow(database.db, dialect, 90, false);
      await addRow(database.db, dialect, 5, false);
      const backlog = await readOutboxBacklog(database.db);
      assert.equal(backlog.pending, 2);
      assert.ok(
        backlog.oldestAgeSeconds !== null && backlog.oldestAgeSeconds >= 89 && backlog.oldestAgeSeconds <= 95,
        String(backlog.oldestAgeSeconds),
      );
    });
  });
}
