import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PartitionToRead, readPartitions } from '../../src/kafka/dlq.ts';

// The rounds of a dead-letter read, with the broker replaced by a script of
// what each Fetch and each fresh look answers (the fetching itself is tested
// against a real broker in test/integration/dlq-read.test.ts).

const partition = (index: number, leader: number, next: bigint, end: bigint): PartitionToRead => ({
  topic: 't.dlq',
  topicId: 'id',
  partition: index,
  leader,
  next,
  end,
});

describe('dead-letter read rounds', () => {
  it('when a leader moves mid-read, then its partition is looked up afresh and read from the new leader, keeping what was read', async () => {
    const partitions = [partition(0, 1, 0n, 10n), partition(1, 2, 0n, 10n)];
    const asked: string[] = [];
    let leaderOfOne = 2;
    await readPartitions(
      partitions,
      {
        async fetch(leader, led) {
          asked.push(`${leader}:${led.map((p) => `${p.partition}@${p.next}`).join(',')}`);
          if (leader === 2) {
            // The first answer from broker 2 gets half; then it is no longer the leader.
            if (led[0]!.next === 0n) {
              led[0]!.next = 5n;
              leaderOfOne = 3;
              return;
            }
            throw new Error('NOT_LEADER_OR_FOLLOWER');
          }
          for (const p of led) p.next = p.end;
        },
        async locate(pending) {
          return new Map(
            pending.map((p) => [`${p.topic}/${p.partition}`, { ...p, leader: leaderOfOne, next: 0n }]),
          );
        },
      },
      Date.now() + 5_000,
      't.dlq',
      1,
    );
    assert.deepEqual(
      partitions.map((p) => p.next),
      [10n, 10n],
    );
    assert.deepEqual(asked, ['1:0@0', '2:1@0', '2:1@5', '3:1@5']);
  });

  it('when retention trims a log past the offset being read, then the read goes on from the new log start', async () => {
    const partitions = [partition(0, 1, 0n, 10n)];
    const fetchedFrom: bigint[] = [];
    await readPartitions(
      partitions,
      {
        async fetch(_leader, led) {
          const p = led[0]!;
          fetchedFrom.push(p.next);
          if (p.next < 4n) throw new Error('OFFSET_OUT_OF_RANGE');
          p.next = p.end;
        },
        async locate(pending) {
          return new Map(pending.map((p) => [`${p.topic}/${p.partition}`, { ...p, next: 4n }]));
        },
      },
      Date.now() + 5_000,
      't.dlq',
      1,
    );
    assert.deepEqual(fetchedFrom, [0n, 4n]);
    assert.equal(partitions[0]!.next, 10n);
  });

  it('when looking the partitions up again fails too (the broker still electing), then the read keeps trying and finishes once it answers', async () => {
    const partitions = [partition(0, 1, 0n, 4n)];
    let looks = 0;
    await readPartitions(
      partitions,
      {
        async fetch(leader, led) {
          if (leader === 1) throw new Error('NOT_LEADER_OR_FOLLOWER');
          led[0]!.next = led[0]!.end;
        },
        async locate(pending) {
          looks += 1;
          if (looks < 3) throw new Error('LEADER_NOT_AVAILABLE');
          return new Map(pending.map((p) => [`${p.topic}/${p.partition}`, { ...p, leader: 2 }]));
        },
      },
      Date.now() + 5_000,
      't.dlq',
      1,
    );
    assert.equal(looks, 3);
    assert.equal(partitions[0]!.next, 4n);
  });

  it('when fetches keep failing, then the read ends at its deadline with the last failure as its cause', async () => {
    let fetches = 0;
    const started = Date.now();
    await assert.rejects(
      readPartitions(
        [partition(0, 1, 0n, 10n)],
        {
          async fetch() {
            fetches += 1;
            throw new Error('broker away');
          },
          async locate(pending) {
            return new Map(pending.map((p) => [`${p.topic}/${p.partition}`, p]));
          },
        },
        Date.now() + 200,
        't.dlq',
        10,
      ),
      (error: Error) => {
        assert.match(error.message, /reading t\.dlq did not finish in time/);
        assert.equal((error.cause as Error).message, 'broker away');
        return true;
      },
    );
    assert.ok(fetches >= 2, `tried ${fetches} times`);
    assert.ok(Date.now() - started < 2_000);
  });

  it('when a round answers nothing for a partition, then it pauses and looks again rather than spinning', async () => {
    let fetches = 0;
    let looks = 0;
    await readPartitions(
      [partition(0, 1, 0n, 3n)],
      {
        async fetch(_leader, led) {
          fetches += 1;
          if (fetches >= 3) led[0]!.next = 3n;
        },
        async locate(pending) {
          looks += 1;
          return new Map(pending.map((p) => [`${p.topic}/${p.partition}`, p]));
        },
      },
      Date.now() + 5_000,
      't.dlq',
      1,
    );
    assert.equal(fetches, 3);
    assert.equal(looks, 2, 'each empty round was followed by a fresh look');
  });
});
