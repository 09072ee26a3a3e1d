import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer, stringDeserializer } from '@platformatic/kafka';
import { uuidv7 } from '../../src/ids.ts';
import { deleteTopics, ensureTopics, waitForBroker } from '../../src/kafka/admin.ts';
import { createEventProducer } from '../../src/kafka/producer.ts';
import { brokers, uniqueName, waitUntil } from './kafka-helpers.ts';

// A review found it (2026-12-07), and it is the likeliest cause of the
// consumer that once stopped consuming after a rebalance: the Kafka client
// parks an offset commit asked for while it rejoins the group and sends it
// once it is back in. A client whose rejoin fails for good (the broker away
// through all its retries) is never back in, so the commit never settled,
// the loop waited on it with the batch in hand, and neither the stall check
// (off while a batch is in hand) nor stop() could end it: the member
// consumed nothing more, ever. Here the rejoin is made to fail for real: a
// member that heartbeats every 9 s holds a rebalance open, a second member
// joins while the consumer under test (a process of its own) is in the
// middle of a batch, and that process's connections to the broker are cut
// and refused for 15 s.

const fixture = join(import.meta.dirname, 'fixtures', 'consumer-outage-process.ts');

describe('a consumer whose rejoin fails while it commits', { timeout: 150_000 }, () => {
  const topic = uniqueName('it.commit-hang');
  const groupId = uniqueName('g-commit-hang');
  const producer = createEventProducer({ brokers, clientId: 'it-commit-hang' });
  const others: Consumer<string, Buffer, string, string>[] = [];
  let child: ChildProcess | undefined;

  before(async () => {
    await waitForBroker(brokers, 10_000);
    await ensureTopics({
      brokers,
      topics: [
        { name: topic, partitions: 2 },
        { name: `${topic}.dlq`, partitions: 1 },
      ],
    });
  });

  after(async () => {
    await Promise.all(others.map((other) => other.close(true).catch(() => undefined)));
    // A consumer left hung (the failure this test is about) must not hold the run.
    child?.kill('SIGKILL');
    await producer.close();
    await deleteTopics(brokers, [topic, `${topic}.dlq`]);
    const admin = new Admin({ clientId: 'it-commit-hang', bootstrapBrokers: brokers });
    await admin.deleteGroups({ groups: [groupId] }).catch(() => undefined);
    await admin.close();
  });

  /** A plain member of the group that never reads what it is given. */
  async function joinIdle(heartbeatIntervalMs: number): Promise<void> {
    const member = new Consumer<string, Buffer, string, string>({
      groupId,
      clientId: 'it-commit-hang-idle',
      bootstrapBrokers: brokers,
      deserializers: { key: stringDeserializer },
      autocommit: false,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: heartbeatIntervalMs,
    });
    others.push(member);
    await member.consume({ topics: [topic], mode: 'committed', fallbackMode: 'earliest', autocommit: false });
  }

  const send = (ids: string[]) =>
    producer.sendRaw(ids.map((id) => ({ topic, key: id, value: JSON.stringify({ id }) })));

  it('when its rejoin fails for good with a commit parked, then the commit is given up, the stream reopened with a new client, and it consumes again', async () => {
    // The slow member: a rebalance waits for it until its next heartbeat, up to 9 s.
    await joinIdle(9_000);
    await send(Array.from({ length: 40 }, () => uuidv7()));
    child = spawn(process.execPath, [fixture], {
      env: { ...process.env, CONSUMER_GROUP: groupId, CONSUMER_TOPIC: topic },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    const handled = new Set<string>();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.startsWith('handled ')) handled.add(line.slice('handled '.length));
    });
    const tell = (command: string) => child?.stdin?.write(`${command}\n`);
    await waitUntil('the consumer in its first batch', () => lines.includes('in batch'), 60_000);
    // A second member joins: the group rebalances, and the consumer's rejoin waits on the slow member.
    // Not awaited: its join ends only once the slow member has rejoined too.
    const joining = joinIdle(500).catch(() => undefined);
    await sleep(3_000);
    tell('block');
    await sleep(15_000);
    tell('unblock');
    await joining;
    assert.ok(lines.includes('handler returns'), 'the batch ended during the outage, its commit parked');
    // The others leave: the consumer is the group's only member again, and owes the next events.
    await Promise.all(others.splice(0).map((other) => other.close(true).catch(() => undefined)));
    const later = Array.from({ length: 10 }, () => uuidv7());
    await send(later);
    await waitUntil(
      'the events sent after the outage consumed',
      () => later.every((id) => handled.has(id)),
      60_000,
    );
    tell('stop');
    await waitUntil('the consumer stopped', () => lines.includes('stopped'), 15_000);
  });
});
