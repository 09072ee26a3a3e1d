import { createEvent, messageKey } from '@nuri/contracts/events';
import type { OutboxMessage } from '@nuri/platform/kafka/outbox';
import { amountToJson } from '@nuri/platform/money';
import type { Payment } from '../domain/payments.ts';
import { eventSource } from './topics.ts';

/**
 * The saga's cash request. Each attempt is a new event (new id, so the core's
 * inbox does not swallow it) for the same paymentId (so the core debits once
 * and repeats its outcome).
 */
export function paymentRequestedMessage(topic: string, payment: Payment, attempt: number): OutboxMessage {
  const event = createEvent(
    'payment.requested',
    {
      paymentId: payment.paymentId,
      userUuid: payment.userUuid,
      accountNo: payment.accountNo,
      amount: amountToJson(payment.cashAmount),
      orderId: payment.orderId,
      attempt,
    },
    { source: eventSource, correlationId: payment.paymentId },
  );
  return { topic, key: messageKey(event), event };
}
