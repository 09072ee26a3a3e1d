import { createEvent, type EventOf, messageKey, validateEvent } from '@nuri/contracts/events';
import { createEventConsumer, type EventConsumer } from '@nuri/platform/kafka/consumer';
import { amountToJson } from '@nuri/platform/money';
import { settlePayment } from '../db/payments-repository.ts';
import type { PaymentOutcome } from '../domain/payments.ts';
import { type ConsumerDeps, consumerTuning } from './consumer-deps.ts';
import { eventSource } from './topics.ts';

/**
 * payment.requested → the saga's pivot: debit the cash exactly once per
 * paymentId and answer payment.settled through the outbox. Payments are few
 * next to deposits, so each one gets its own short transaction; a re-run of
 * the batch after a failure skips the ones already in the inbox.
 */
export function createPaymentsConsumer(deps: ConsumerDeps): EventConsumer {
  const { topics, groupId } = deps;
  return createEventConsumer<EventOf<'payment.requested'>>({
    ...consumerTuning(deps),
    topics: [topics.paymentRequested],
    validate: (_topic, value) => validateEvent('payment.requested', value),
    handleBatch: async (batch) => {
      for (const { event } of batch) {
        const result = await settlePayment(deps.db, {
          consumer: groupId,
          eventId: event.id,
          request: {
            paymentId: event.data.paymentId,
            userUuid: event.data.userUuid,
            accountNo: event.data.accountNo,
            amount: BigInt(event.data.amount),
            orderId: event.data.orderId,
          },
          announce: (outcome) => {
            const settled = settledEvent(event, outcome);
            return { topic: topics.paymentSettled, key: messageKey(settled), event: settled };
          },
        });
        deps.logger.debug(
          { groupId, paymentId: event.data.paymentId, attempt: event.data.attempt, result },
          'payment request handled',
        );
      }
    },
  });
}

function settledEvent(request: EventOf<'payment.requested'>, outcome: PaymentOutcome) {
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
    { source: eventSource, correlationId: request.correlationId },
  );
}
