import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '@nuri/platform/errors';
import type { DeadLetter } from '@nuri/platform/kafka/dlq';
import { reconciliationAnswer } from '../../src/admin/console.ts';
import { chooseLetters, replayAllMax, summarize, validateReplayBody } from '../../src/admin/dead-letters.ts';
import { hashOf } from '../../src/admin/idempotency.ts';
import { describeServices } from '../../src/admin/instances.ts';
import { bucketKey, sumBuckets, windowKeys } from '../../src/admin/refusals.ts';

// The operator console's decisions that need no process: how instances are
// described, which dead letters a replay names, how refusals are bucketed,
// how a reconciliation is shown.

const started = '2026-03-01T09:00:00.000Z';

describe('services', () => {
  const one = (url: string, ready: boolean, pid?: number) => ({
    url,
    ready,
    outstanding: 0,
    ...(pid === undefined ? {} : { process: { pid, startedAt: started, restarts: 1 } }),
  });
  const services = {
    'core-user': [one('http://127.0.0.1:8101', true, 11)],
    'core-payment': [one('http://127.0.0.1:8102', true, 12), one('http://127.0.0.1:8112', false)],
    'channel-user': [one('http://127.0.0.1:8201', true, 21)],
    point: [],
    coupon: [one('http://127.0.0.1:8203', false)],
  };
  const self = { url: 'http://127.0.0.1:8090', process: { pid: 90, startedAt: started, restarts: 0 } };

  it('when instances are probed, then each service says its zone, ready of total and each process', () => {
    const items = describeServices(services, undefined, self);
    const corePayment = items.find((item) => item.service === 'core-payment')!;
    assert.deepEqual(corePayment, {
      service: 'core-payment',
      zone: 'core',
      ready: 1,
      total: 2,
      instances: [
        { url: 'http://127.0.0.1:8102', state: 'ready', pid: 12, startedAt: started, restarts: 1 },
        { url: 'http://127.0.0.1:8112', state: 'down' },
      ],
    });
    assert.equal(items.find((item) => item.service === 'coupon')?.zone, 'channel');
    assert.deepEqual(items.at(-1), {
      service: 'gateway',
      zone: 'edge',
      ready: 1,
      total: 1,
      instances: [{ url: self.url, state: 'ready', pid: 90, startedAt: started, restarts: 0 }],
    });
  });

  it('when gateways have peers, then this one is ready and described by itself, whatever its own probe saw', () => {
    const peers = [one('http://127.0.0.1:8090', false), one('http://127.0.0.1:8100', true, 100)];
    const gateway = describeServices(services, peers, self).at(-1)!;
    assert.equal(gateway.ready, 2);
    assert.equal(gateway.total, 2);
    assert.deepEqual(gateway.instances[0], {
      url: self.url,
      state: 'ready',
      pid: 90,
      startedAt: started,
      restarts: 0,
    });
  });
});

function letter(topic: string, offset: number, failedAt: string, replayedAt?: string): DeadLetter {
  return {
    ref: `${topic}.dlq/0/${offset}`,
    dlqTopic: `${topic}.dlq`,
    partition: 0,
    offset: BigInt(offset),
    topic,
    source: `${topic}/0/${offset}`,
    key: 'k',
    value: '{}',
    error: `Error: failed ${offset}`,
    kind: 'handler',
    group: 'g',
    failedAt,
    eventId: undefined,
    eventType: undefined,
    replayedAt,
    copies: [],
  };
}

describe('dead letters', () => {
  const letters = [
    letter('deposit.requested', 0, '2026-03-01T09:00:00.000Z', '2026-03-01T10:00:00.000Z'),
    letter('deposit.requested', 1, '2026-03-01T09:05:00.000Z'),
    letter('payment.requested', 0, '2026-03-01T09:01:00.000Z'),
  ];

  it('when listed, then the newest come first, limited, and every letter is counted by topic', () => {
    const answer = summarize(letters, 2);
    assert.deepEqual(
      answer.items.map((item) => item.ref),
      ['deposit.requested.dlq/0/1', 'payment.requested.dlq/0/0'],
    );
    assert.deepEqual(answer.byTopic, [
      { topic: 'deposit.requested', count: 2 },
      { topic: 'payment.requested', count: 1 },
    ]);
    assert.equal(answer.items[0]?.replayedAt, null);
    assert.equal(answer.items[0]?.eventId, null);
  });

  it('when an error is long or carries an RRN, then it is masked and cut to 300 characters', () => {
    const noisy = {
      ...letter('deposit.requested', 5, started),
      error: `rrn 900101-1234567 ${'x'.repeat(400)}`,
    };
    const [item] = summarize([noisy], 1).items;
    assert.equal(item?.error.length, 300);
    assert.equal(item?.error.includes('1234567'), false);
    assert.match(item?.error ?? '', /900101-1\*{6}/);
  });

  it('when refs are named, then those are chosen and the unknown ones reported', () => {
    const { chosen, unknown } = chooseLetters(letters, { refs: ['payment.requested.dlq/0/0', 'x.dlq/0/9'] });
    assert.deepEqual(
      chosen.map((chosenLetter) => chosenLetter.ref),
      ['payment.requested.dlq/0/0'],
    );
    assert.deepEqual(unknown, ['x.dlq/0/9']);
  });

  it('when a replay names a letter by a copy of it, or twice, then that letter is chosen once', () => {
    const written = { ...letter('coupon.issued', 3, started), copies: ['coupon.issued.dlq/0/4'] };
    const { chosen, unknown } = chooseLetters([written], {
      refs: ['coupon.issued.dlq/0/4', 'coupon.issued.dlq/0/3', 'coupon.issued.dlq/0/4'],
    });
    assert.deepEqual(chosen, [written]);
    assert.deepEqual(unknown, []);
  });

  it('when all are asked, then the ones not replayed go oldest first, and the replayed ones are named to be skipped', () => {
    const { chosen } = chooseLetters(letters, { all: true });
    assert.deepEqual(
      chosen.map((chosenLetter) => chosenLetter.ref),
      ['payment.requested.dlq/0/0', 'deposit.requested.dlq/0/1', 'deposit.requested.dlq/0/0'],
    );
    const again = chooseLetters(letters, { all: true, again: true }).chosen.map(
      (chosenLetter) => chosenLetter.ref,
    );
    assert.deepEqual(again, [
      'deposit.requested.dlq/0/0',
      'payment.requested.dlq/0/0',
      'deposit.requested.dlq/0/1',
    ]);
  });

  it('when there are more letters than one replay sends, then it sends the oldest up to the bound', () => {
    const many = Array.from({ length: replayAllMax + 20 }, (_unused, index) =>
      letter('deposit.requested', index, new Date(Date.parse(started) + index * 1_000).toISOString()),
    );
    const { chosen } = chooseLetters(many, { all: true });
    assert.equal(chosen.length, replayAllMax);
    assert.equal(chosen[0]?.ref, 'deposit.requested.dlq/0/0');
  });

  it('when a replay names both refs and all, or neither, then it is refused as invalid', () => {
    const code = (body: Parameters<typeof validateReplayBody>[0]) => {
      try {
        validateReplayBody(body);
        return 'valid';
      } catch (error) {
        assert.ok(error instanceof AppError);
        return error.code;
      }
    };
    assert.equal(code({ refs: ['a.dlq/0/1'], all: true }), 'VALIDATION_FAILED');
    assert.equal(code({}), 'VALIDATION_FAILED');
    assert.equal(code({ all: false }), 'VALIDATION_FAILED');
    assert.equal(code({ again: true }), 'VALIDATION_FAILED');
    assert.equal(code({ all: true, again: true }), 'valid');
    assert.equal(code({ refs: ['a.dlq/0/1'] }), 'valid');
  });
});

describe('refusal buckets', () => {
  it('when the last hour is read, then it is the sixty minutes up to this one, all in one hash slot', () => {
    const now = Date.parse('2026-03-01T10:30:15.000Z');
    const keys = windowKeys('rl-refusals', 'login', now);
    const minute = Math.floor(now / 60_000);
    assert.equal(keys.length, 60);
    assert.equal(keys.at(-1), bucketKey('rl-refusals', 'login', minute));
    assert.equal(keys[0], `rl-refusals:{login}:${minute - 59}`);
  });

  it('when buckets are summed, then missing and malformed ones count nothing', () => {
    assert.equal(sumBuckets(['3', null, '4', 'x', '-2']), 7);
  });
});

describe('reconciliation answer', () => {
  it('when a service could not be asked, then its section is one failed check and the whole is not ok', () => {
    const answer = reconciliationAnswer(
      [
        {
          service: 'core-payment',
          checks: [{ label: 'balance = ledger sum', ok: true, summary: '0 mismatches', findings: [] }],
        },
        { service: 'point', checks: [], unreachable: 'point could not be asked: http://10.0.0.1 refused' },
      ],
      new Date(started),
    );
    assert.equal(answer.ok, false);
    assert.equal(answer.ranAt, started);
    assert.deepEqual(answer.services[0]?.checks, [
      { name: 'balance = ledger sum', ok: true, detail: '0 mismatches' },
    ]);
    assert.equal(answer.services[1]?.checks[0]?.ok, false);
    assert.equal(answer.services[1]?.checks[0]?.detail.includes('10.0.0.1'), false, 'no internals shown');
  });
});

describe('idempotency', () => {
  it('when two bodies differ only in key order, then they are the same request', () => {
    assert.equal(hashOf({ refs: ['a'], again: true }), hashOf({ again: true, refs: ['a'] }));
    assert.notEqual(hashOf({ refs: ['a'] }), hashOf({ refs: ['b'] }));
  });
});
