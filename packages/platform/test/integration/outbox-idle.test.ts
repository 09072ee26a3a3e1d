import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import type { Database } from '../../src/db.ts';
import { uuidv7 } from '../../src/ids.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import {
  createOutboxNotifier,
  createOutboxRelay,
  enqueueOutbox,
  type OutboxDatabase,
  type OutboxRelay,
} from '../../src/kafka/outbox.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import { brokers, openOutbox, readTopic, silentLogger, uniqueName } from './kafka-helpers.ts';

// An idle relay used to scan its outbox every poll interval (20 ms in
// channel-user and point: fifty queries a second per service, the largest
// part of an idle system's CPU). Scans that find nothing now back off to
// idlePollMaxMs; a notification, or rows found, bring the pace back.

/** Counts the relay's scans: the query builder's selects from `outbox`. */
function scanCounter(): KyselyPlugin & { scans: () => number } {
  let scans = 0;
  return {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const node = args.node;
      if (node.kind === 'SelectQueryNode' && JSON.stringify(node.from).includes('"outbox"')) scans += 1;
      return node;
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return args.result;
    },
    scans: () => scans,
  };
}

describe('an idle outbox relay', { timeout: 60_000 }, () => {
  const topic = uniqueName('it.outbox-idle');
  const producer = createEventProducer({ brokers, clientId: 'it-outbox-idle' });
  const notifier = createOutboxNotifier();
  const counter = scanCounter();
  let database: Database<OutboxDatabase>;
  let drop: (() => Promise<void>) | undefined;
  let relay: OutboxRelay | undefined;

  before(async () => {
    ({ database, drop } = await openOutbox('mysql', 'it_outbox_idle'));
    await ensureTopics({ brokers, topics: [{ name: topic, partitions: 1 }] });
  });

  after(async () => {
    await relay?.stop();
    await producer.close();
    await deleteTopics(brokers, [topic]);
    await drop?.();
  });

  const publishedAt = new Map<string, number>();

  async function enqueue(notify: boolean): Promise<string> {
    const id = uuidv7();
    await database.db
      .transaction()
      .execute((trx) => enqueueOutbox(trx, [{ topic, key: 'k', event: { id } }]));
    if (notify) notifier.notify();
    return id;
  }

  async function published(id: string): Promise<number> {
    for (let waited = 0; waited < 5_000; waited += 10) {
      const at = publishedAt.get(id);
      if (at !== undefined) return at;
      await sleep(10);
    }
    assert.fail(`${id} was not published within 5 s`);
  }

  it('when nothing is waiting, then it scans a few times a second, not every poll interval, and still publishes at once when told and soon when not', async () => {
    relay = createOutboxRelay({
      db: database.db.withPlugin(counter),
      producer,
      logger: silentLogger,
      notifier,
      pollIntervalMs: 20,
      idlePollMaxMs: 400,
      hooks: {
        afterPublish: async (ids) => {
          for (const id of ids) publishedAt.set(id, Date.now());
        },
      },
    });
    await relay.start();
    await sleep(500); // the back-off reaches its ceiling
    const before = counter.scans();
    await sleep(3_000);
    const idleScans = counter.scans() - before;
    // At 20 ms it would be 150; at the 400 ms ceiling about 8.
    assert.ok(idleScans <= 12, `${idleScans} scans in 3 s of idleness`);

    // Told: published long before the next idle scan would come.
    const toldAt = Date.now();
    const told = await enqueue(true);
    const toldLatency = (await published(told)) - toldAt;
    assert.ok(toldLatency < 200, `published ${toldLatency} ms after the notification`);

    // Not told (another instance's rows): found by the backed-off scan, within its ceiling.
    await sleep(1_000);
    const writtenAt = Date.now();
    const untold = await enqueue(false);
    const untoldLatency = (await published(untold)) - writtenAt;
    assert.ok(untoldLatency < 1_000, `found ${untoldLatency} ms after the commit`);
    // And both really reached the broker.
    const messages = await readTopic(topic, 2, 10_000);
    assert.deepEqual(messages.map((message) => JSON.parse(message.value).id).sort(), [told, untold].sort());
  });
});
