import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventProducer, EventToSend } from '@nuri/platform/kafka/producer';
import type { IssuedCoupon } from '../../src/domain/campaigns.ts';
import {
  createCouponHandOff,
  HandOffFailedError,
  neverSent,
  SendWindowFullError,
} from '../../src/events/hand-off.ts';

function coupon(index: number): IssuedCoupon {
  const suffix = index.toString(16).padStart(12, '0');
  return {
    couponId: `0190a000-0000-7000-8000-${suffix}`,
    campaignId: '0190a000-0000-7000-8000-00000000ca01',
    userUuid: `0190a000-0000-7000-9000-${suffix}`,
    code: 'AAAA-BBBB-CCCC',
    issuedAt: new Date(1_800_000_000_000),
  };
}

/** A producer whose sends wait until the test releases them. */
function heldProducer() {
  const batches: EventToSend[][] = [];
  const releases: Array<(error?: Error) => void> = [];
  const producer: EventProducer = {
    sendEvents: (events) =>
      new Promise<void>((resolve, reject) => {
        batches.push([...events]);
        releases.push((error) => (error === undefined ? resolve() : reject(error)));
      }),
    sendRaw: async () => {},
    inFlight: 0,
    close: async () => {},
  };
  return { producer, batches, release: (error?: Error) => releases.shift()?.(error) };
}

describe('the coupon hand-off window', () => {
  it('when sends pile up behind a slow ack, then they ride together in the next produce request', async () => {
    const kafka = heldProducer();
    const handOff = createCouponHandOff({
      producer: kafka.producer,
      topic: 't',
      windowMax: 100,
      batchSizeMax: 50,
      waitMs: 100,
    });
    const first = handOff.handOff(coupon(1), 'c');
    await sleep(0);
    const rest = [2, 3, 4].map((index) => handOff.handOff(coupon(index), 'c'));
    await sleep(0);
    assert.equal(kafka.batches.length, 1);
    kafka.release();
    await first;
    await sleep(0);
    assert.deepEqual(
      kafka.batches.map((batch) => batch.length),
      [1, 3],
    );
    assert.equal(kafka.batches[1]![0]!.key, coupon(2).campaignId, 'keyed by campaign');
    kafka.release();
    await Promise.all(rest);
    assert.equal(handOff.inWindow, 0);
  });

  it('when the window is full, then a request waits for room and gets SendWindowFullError after waitMs', async () => {
    const kafka = heldProducer();
    const handOff = createCouponHandOff({
      producer: kafka.producer,
      topic: 't',
      windowMax: 2,
      batchSizeMax: 50,
      waitMs: 30,
    });
    const inWindow = [handOff.handOff(coupon(1), 'c'), handOff.handOff(coupon(2), 'c')];
    const started = Date.now();
    await assert.rejects(
      handOff.handOff(coupon(3), 'c'),
      (error: HandOffFailedError) => error.cause instanceof SendWindowFullError && !error.mayHaveBeenSent,
    );
    assert.ok(Date.now() - started >= 25);
    assert.equal(handOff.inWindow, 2, 'the window never grows past its limit');

    // Room frees when an ack arrives; a waiting request then gets in.
    const waiting = handOff.handOff(coupon(4), 'c');
    for (let ack = 0; ack < 3; ack += 1) {
      await sleep(1);
      kafka.release();
    }
    await Promise.all([...inWindow, waiting]);
    assert.deepEqual(
      kafka.batches.flat().map((item) => (item.event as { data: { couponId: string } }).data.couponId),
      [1, 2, 4].map((index) => coupon(index).couponId),
    );
  });

  it('when a produce request fails, then every event in it fails and the window empties', async () => {
    const kafka = heldProducer();
    const handOff = createCouponHandOff({
      producer: kafka.producer,
      topic: 't',
      windowMax: 10,
      batchSizeMax: 50,
      waitMs: 0,
    });
    const settled = Promise.allSettled([1, 2].map((index) => handOff.handOff(coupon(index), 'c')));
    for (let ack = 0; ack < 2; ack += 1) {
      await sleep(1);
      kafka.release(new Error('broker gone'));
    }
    const results = await settled;
    assert.ok(results.every((result) => result.status === 'rejected'));
    assert.equal(handOff.inWindow, 0);
  });

  it('when the recovery job re-sends a coupon, then it keeps coupon id and code under a new event id', async () => {
    const kafka = heldProducer();
    const handOff = createCouponHandOff({
      producer: kafka.producer,
      topic: 't',
      windowMax: 10,
      batchSizeMax: 50,
      waitMs: 0,
    });
    const sends = [handOff.handOff(coupon(1), 'c'), handOff.resend(coupon(1), 'recovery')];
    for (let ack = 0; ack < 2; ack += 1) {
      await sleep(1);
      kafka.release();
    }
    await Promise.all(sends);
    const events = kafka.batches
      .flat()
      .map((item) => item.event as { id: string; data: { couponId: string; code: string } });
    assert.equal(events.length, 2);
    assert.notEqual(events[0]!.id, events[1]!.id);
    assert.deepEqual(events[0]!.data, events[1]!.data);
  });

  it('when a send fails, then only a refusal before sending or connections that all failed count as never sent', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const network = Object.assign(new Error('Connection to 127.0.0.1:1 failed.'), {
      code: 'PLT_KFK_NETWORK',
      cause: refused,
    });
    const cannotConnect = Object.assign(
      new AggregateError([network, network], 'Cannot connect to any broker.'),
      {
        code: 'PLT_KFK_MULTIPLE',
      },
    );
    const timeout = Object.assign(new Error('Request timed out'), { code: 'PLT_KFK_TIMEOUT' });
    assert.equal(neverSent(new SendWindowFullError(2, 30)), true);
    assert.equal(neverSent(Object.assign(new Error('busy'), { code: 'PRODUCER_BUSY' })), true);
    assert.equal(
      neverSent(new AggregateError([cannotConnect, cannotConnect], 'initProducerId failed 3 times.')),
      true,
    );
    assert.equal(neverSent(timeout), false);
    assert.equal(
      neverSent(new AggregateError([cannotConnect, timeout])),
      false,
      'one attempt may have reached the broker',
    );
    assert.equal(new HandOffFailedError(timeout).mayHaveBeenSent, true);
  });

  it('when an event waited in the queue past its limit (behind a slow broker), then it is failed as never sent instead of going out late', async () => {
    const kafka = heldProducer();
    const handOff = createCouponHandOff({
      producer: kafka.producer,
      topic: 't',
      windowMax: 100,
      batchSizeMax: 50,
      waitMs: 100,
      queueWaitMaxMs: 50,
    });
    const first = handOff.handOff(coupon(1), 'c');
    await sleep(0);
    const queued = handOff.handOff(coupon(2), 'c');
    const failure = assert.rejects(queued, (error: HandOffFailedError) => !error.mayHaveBeenSent);
    await sleep(80);
    kafka.release();
    await first;
    await failure;
    await sleep(0);
    assert.deepEqual(
      kafka.batches.map((batch) => batch.length),
      [1],
      'the expired event never reached the producer',
    );
    assert.equal(handOff.inWindow, 0);
  });
});
