import { createEvent, type EventOf, messageKey, validateEvent } from '@nuri/contracts/events';
import type { EventConsumer } from '@nuri/platform/kafka/consumer';
import { createEventConsumer } from '@nuri/platform/kafka/consumer';
import type { OutboxMessage } from '@nuri/platform/kafka/outbox';
import { amountToJson } from '@nuri/platform/money';
import { type DepositEvent, settleDeposits } from '../db/deposits-repository.ts';
import type { DepositOutcome } from '../domain/deposits.ts';
import { type ConsumerDeps, consumerTuning } from './consumer-deps.ts';
import { eventSource } from './topics.ts';

/**
 * deposit.requested → the ledger, a whole batch per transaction; each outcome
 * goes out as deposit.settled through the outbox. When a batch fails, the
 * platform consumer retries it and then falls back to one event per
 * transaction, so one poison event cannot hold back the rest.
 */
export function createDepositsConsumer(deps: ConsumerDeps): EventConsumer {
  const { topics, groupId } = deps;
  return createEventConsumer<EventOf<'deposit.requested'>>({
    ...consumerTuning(deps),
    topics: [topics.depositRequested],
    validate: (_topic, value) => validateEvent('deposit.requested', value),
    handleBatch: async (batch) => {
      const events: DepositEvent[] = batch.map(({ event, traceparent }) => ({
        eventId: event.id,
        correlationId: event.correlationId,
        ...(traceparent === undefined ? {} : { traceparent }),
        request: {
          depositId: event.data.depositId,
          accountNo: event.data.accountNo,
          userUuid: event.data.userUuid,
          amount: BigInt(event.data.amount),
        },
      }));
      const applied = await settleDeposits(deps.db, {
        events,
        announce: (settled) =>
          settled.map(({ event, outcome }) => settledMessage(topics.depositSettled, event, outcome)),
      });
      deps.logger.debug({ groupId, received: batch.length, applied }, 'deposit batch settled');
    },
  });
}

function settledMessage(topic: string, request: DepositEvent, outcome: DepositOutcome): OutboxMessage {
  const event = createEvent(
    'deposit.settled',
    {
      depositId: outcome.depositId,
      accountNo: outcome.accountNo,
      settledAt: new Date().toISOString(),
      ...(outcome.status === 'COMPLETED'
        ? { status: 'COMPLETED' as const, balanceAfter: amountToJson(outcome.balanceAfter) }
        : { status: 'FAILED' as const, failureCode: outcome.failureCode }),
    },
    {
      source: eventSource,
      correlationId: request.correlationId,
      // The answer continues the request's trace (tracing.ts), whatever batch it was applied in.
      ...(request.traceparent === undefined ? {} : { traceparent: request.traceparent }),
    },
  );
  return { topic, key: messageKey(event), event };
}
