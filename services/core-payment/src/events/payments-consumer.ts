import { createEvent, type EventOf, messageKey, validateEvent } from '@nuri/contracts/events';
import { createEventConsumer, type EventConsumer } from '@nuri/platform/kafka/consumer';
import { amountToJson } from '@nuri/platform/money';
import { settlePayments } from '../db/payments-repository.ts';
import type { PaymentOutcome } from '../domain/payments.ts';
import { type ConsumerDeps, consumerTuning } from './consumer-deps.ts';
import { eventSource } from './topics.ts';

/**
 * payment.requested → the saga's pivot: debit the cash exactly once per
 * paymentId and answer payment.settled through the outbox, a whole batch per
 * transaction; a re-run of the batch after a failure skips the ones already
 * in the inbox.
 */
export function createPaymentsConsumer(deps: ConsumerDeps): EventConsumer {
  const { topics, groupId } = deps;
  return createEventConsumer<EventOf<'payment.requested'>>({
    ...consumerTuning(deps),
    topics: [topics.paymentRequested],
    validate: (_topic, value) => validateEvent('payment.requested', value),
    handleBatch: async (batch) => {
      const results = await settlePayments(
        deps.db,
        groupId,
        batch.map(({ event, traceparent }) => ({
          eventId: event.id,
          request: {
            paymentId: event.data.paymentId,
            userUuid: event.data.userUuid,
            accountNo: event.data.accountNo,
            amount: BigInt(event.data.amount),
            orderId: event.data.orderId,
          },
          announce: (outcome: PaymentOutcome) => {
            const settled = settledEvent(event, outcome, traceparent);
            return { topic: topics.paymentSettled, key: messageKey(settled), event: settled };
          },
        })),
      );
      deps.logger.debug({ groupId, size: batch.length, results }, 'payment requests handled');
    },
  });
}

function settledEvent(
  request: EventOf<'payment.requested'>,
  outcome: PaymentOutcome,
  traceparent: string | undefined,
) {
  return createEvent(
    'payment.settled',
    {
      paymentId: request.data.paymentId,
      userUuid: request.data.userUuid,
      accountNo: request.data.accountNo,
      settledAt: new Date().toISOString(),
      ...(outcome.status === 'SUCCEEDED'
        ? { status: 'SUCCEEDED' as const, balanceAfter: amountToJson(outcome.balanceAfter) }
        : { status: 'FAILED' as const, failureCode: outcome.failureCode }),
    },
    {
      source: eventSource,
      correlationId: request.correlationId,
      ...(traceparent === undefined ? {} : { traceparent }),
    },
  );
}
