import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeadLetter } from '@nuri/platform/kafka/dlq';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ServiceUnreachableError } from '../../src/admin/service-reports.ts';
import { startReconciliationMetrics, waitingByTopic } from '../../src/reconciliation-metrics.ts';

// The DLQ alert's gauge (deploy/monitoring/rules: NuriDeadLettersWaiting):
// letters no one has replayed yet, per topic, counted on the reconciliation's
// timer. Pure counting over letters as the DLQ desk reads them.

function letter(topic: string, offset: number, replayedAt?: string): DeadLetter {
  return {
    ref: `${topic}.dlq/0/${offset}`,
    dlqTopic: `${topic}.dlq`,
    partition: 0,
    offset: BigInt(offset),
    topic,
    source: `${topic}/0/${offset}`,
    key: 'k',
    value: '{}',
    error: 'boom',
    kind: 'handler',
    group: 'g',
    failedAt: '2026-12-06T00:00:00.000Z',
    eventId: undefined,
    eventType: undefined,
    replayedAt,
    copies: [],
  };
}

describe('waiting dead letters', () => {
  it('when some letters were replayed, then only the others count, per topic', () => {
    const counts = waitingByTopic([
      letter('deposit.settled', 1),
      letter('deposit.settled', 2, '2026-12-06T01:00:00.000Z'),
      letter('deposit.settled', 3),
      letter('payment.requested', 1, '2026-12-06T01:00:00.000Z'),
    ]);
    assert.deepEqual([...counts], [['deposit.settled', 2]]);
  });

  it('when the timer runs, then the gauge holds the waiting letters; a failed read leaves the last counts and the checks still run', async () => {
    const registry = new Registry();
    let letters: DeadLetter[] = [letter('deposit.requested', 7), letter('deposit.requested', 8)];
    let brokerDown = false;
    const metrics = startReconciliationMetrics({
      registry,
      reports: {
        read: async (service) => {
          throw new ServiceUnreachableError(service, 'not in this test');
        },
      },
      intervalMs: 0,
      logger: pino({ level: 'silent' }),
      deadLetters: async () => {
        if (brokerDown) throw new Error('broker away');
        return letters;
      },
    });
    const gauge = async () =>
      (await registry.getSingleMetric('nuri_dlq_letters_waiting')!.get()).values.map((value) => [
        value.labels.topic,
        value.value,
      ]);
    await metrics.runOnce();
    assert.deepEqual(await gauge(), [['deposit.requested', 2]]);

    brokerDown = true;
    await metrics.runOnce();
    assert.deepEqual(await gauge(), [['deposit.requested', 2]], 'the last counts stand');
    assert.ok(await registry.getSingleMetric('nuri_reconciliation_last_run_timestamp_seconds')!.get());

    brokerDown = false;
    letters = letters.map((one) => ({ ...one, replayedAt: '2026-12-06T02:00:00.000Z' }));
    await metrics.runOnce();
    assert.deepEqual(await gauge(), [], 'every letter replayed: no series, the alert clears');
    await metrics.stop();
  });
});
