import { randomUUID } from 'node:crypto';
import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

// The envelope id is the consumers' dedupe key and must sort by creation time.
// Contracts cannot depend on the platform package, so UUIDv7 is made here too.
const uuidv7Pattern = '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
const uuidPattern = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';

export const amountMin = 1;
export const amountMax = 100_000_000;
export const balanceMax = 1_000_000_000_000_000;
export const attemptMax = 1000;

const Uuidv7 = Type.String({ pattern: uuidv7Pattern });
const Uuid = Type.String({ pattern: uuidPattern });
const AccountNo = Type.String({ pattern: '^[0-9]{3}-[0-9]{3}-[0-9]{6}$' });
const Timestamp = Type.String({ format: 'date-time' });
const Amount = Type.Integer({ minimum: amountMin, maximum: amountMax });
const BalanceAfter = Type.Integer({ minimum: 0, maximum: balanceMax });
const FailureCode = Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,63}$' });

export const topics = {
  depositRequested: 'deposit.requested',
  depositSettled: 'deposit.settled',
  paymentRequested: 'payment.requested',
  paymentSettled: 'payment.settled',
  couponIssued: 'coupon.issued',
  couponRecorded: 'coupon.recorded',
} as const;

export type Topic = (typeof topics)[keyof typeof topics];
export const allTopics: readonly Topic[] = Object.values(topics);

export function dlqTopic(topic: string): string {
  return `${topic}.dlq`;
}

export const DepositRequestedData = Type.Object({
  depositId: Uuidv7,
  accountNo: AccountNo,
  userUuid: Uuid,
  amount: Amount,
  requestedAt: Timestamp,
});

export const DepositSettledData = Type.Object({
  depositId: Uuidv7,
  accountNo: AccountNo,
  status: Type.Union([Type.Literal('COMPLETED'), Type.Literal('FAILED')]),
  balanceAfter: Type.Optional(BalanceAfter),
  failureCode: Type.Optional(FailureCode),
  settledAt: Timestamp,
});

export const PaymentRequestedData = Type.Object({
  paymentId: Uuidv7,
  userUuid: Uuid,
  accountNo: AccountNo,
  amount: Amount,
  orderId: Type.String({ minLength: 1, maxLength: 64 }),
  attempt: Type.Integer({ minimum: 1, maximum: attemptMax }),
});

export const PaymentSettledData = Type.Object({
  paymentId: Uuidv7,
  userUuid: Uuid,
  accountNo: AccountNo,
  status: Type.Union([Type.Literal('SUCCEEDED'), Type.Literal('FAILED')]),
  failureCode: Type.Optional(FailureCode),
  balanceAfter: Type.Optional(BalanceAfter),
  settledAt: Timestamp,
});

export const CouponIssuedData = Type.Object({
  couponId: Uuidv7,
  campaignId: Uuidv7,
  userUuid: Uuid,
  code: Type.String({ minLength: 1, maxLength: 64 }),
  issuedAt: Timestamp,
});

export const CouponRecordedData = Type.Object({
  couponId: Uuidv7,
  campaignId: Uuidv7,
  userUuid: Uuid,
  recordedAt: Timestamp,
});

export const eventDataSchemas = {
  'deposit.requested': DepositRequestedData,
  'deposit.settled': DepositSettledData,
  'payment.requested': PaymentRequestedData,
  'payment.settled': PaymentSettledData,
  'coupon.issued': CouponIssuedData,
  'coupon.recorded': CouponRecordedData,
} as const satisfies Record<Topic, TSchema>;

/** Every event type is published on the topic of the same name. */
export type EventType = Topic;
export type EventData<T extends EventType> = Static<(typeof eventDataSchemas)[T]>;

export const eventVersion = 1;

function envelopeSchema<T extends EventType>(type: T) {
  return Type.Object({
    id: Uuidv7,
    type: Type.Literal(type),
    version: Type.Literal(eventVersion),
    source: Type.String({ minLength: 1, maxLength: 64 }),
    occurredAt: Timestamp,
    correlationId: Type.String({ minLength: 1, maxLength: 128 }),
    traceparent: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' }),
    ),
    data: eventDataSchemas[type],
  });
}

export const eventSchemas = {
  'deposit.requested': envelopeSchema('deposit.requested'),
  'deposit.settled': envelopeSchema('deposit.settled'),
  'payment.requested': envelopeSchema('payment.requested'),
  'payment.settled': envelopeSchema('payment.settled'),
  'coupon.issued': envelopeSchema('coupon.issued'),
  'coupon.recorded': envelopeSchema('coupon.recorded'),
} as const;

export type EventOf<T extends EventType> = Static<(typeof eventSchemas)[T]>;
export type AnyEvent = { [T in EventType]: EventOf<T> }[EventType];

/** The envelope fields every event has, whatever its data. */
export interface EventEnvelope {
  id: string;
  type: string;
  version: number;
  source: string;
  occurredAt: string;
  correlationId: string;
  traceparent?: string;
  data: unknown;
}

// Compiled once at module load; validation runs on every produce and consume.
const validators = {
  'deposit.requested': Compile(eventSchemas['deposit.requested']),
  'deposit.settled': Compile(eventSchemas['deposit.settled']),
  'payment.requested': Compile(eventSchemas['payment.requested']),
  'payment.settled': Compile(eventSchemas['payment.settled']),
  'coupon.issued': Compile(eventSchemas['coupon.issued']),
  'coupon.recorded': Compile(eventSchemas['coupon.recorded']),
} as const;

/** Which envelope field carries the Kafka message key, per docs/architecture.md: it fixes the per-key order. */
export const messageKeyFields = {
  'deposit.requested': 'accountNo',
  'deposit.settled': 'accountNo',
  'payment.requested': 'accountNo',
  'payment.settled': 'userUuid',
  'coupon.issued': 'campaignId',
  'coupon.recorded': 'campaignId',
} as const satisfies { [T in EventType]: keyof EventData<T> };

export function messageKey<T extends EventType>(event: EventOf<T>): string {
  const field = messageKeyFields[event.type as T];
  return String((event.data as Record<string, unknown>)[field]);
}

export interface EventValidationIssue {
  path: string;
  message: string;
}

export class EventValidationError extends Error {
  readonly code = 'EVENT_VALIDATION_FAILED';
  readonly topic: string;
  readonly issues: readonly EventValidationIssue[];
  constructor(topic: string, issues: readonly EventValidationIssue[]) {
    const summary = issues
      .slice(0, 5)
      .map((issue) => `${issue.path || '/'} ${issue.message}`)
      .join('; ');
    super(`invalid ${topic} event: ${summary}`);
    this.name = 'EventValidationError';
    this.topic = topic;
    this.issues = issues;
  }
}

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(eventSchemas, value);
}

/** Checks an unknown value against the schema of the topic it arrived on (or is bound for). */
export function validateEvent<T extends EventType>(topic: T, value: unknown): EventOf<T>;
export function validateEvent(topic: string, value: unknown): AnyEvent;
export function validateEvent(topic: string, value: unknown): AnyEvent {
  if (!isEventType(topic)) {
    throw new EventValidationError(topic, [{ path: '', message: `no event schema for topic ${topic}` }]);
  }
  const validator = validators[topic];
  if (validator.Check(value)) return value as AnyEvent;
  const issues = validator
    .Errors(value)
    .map((error) => ({ path: error.instancePath, message: error.message }));
  throw new EventValidationError(topic, issues);
}

export interface CreateEventOptions {
  source: string;
  correlationId: string;
  traceparent?: string;
  /** Supplied by the caller when the id must be known before the event (e.g. stored beside it). */
  id?: string;
  occurredAt?: Date;
}

// Where an event made without an explicit traceparent takes one from: the
// platform's tracing sets it to "the active span" when tracing is on
// (contracts depend on nothing, so the platform plugs it in). Unset, events
// carry none.
let traceparentSource: (() => string | undefined) | undefined;

export function setTraceparentSource(source: (() => string | undefined) | undefined): void {
  traceparentSource = source;
}

/**
 * Builds an envelope around `data` and validates it, so a bad event fails
 * where it is made. Its traceparent is the one given, else the active span's
 * (when tracing is on): the consumer continues that trace.
 */
export function createEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  options: CreateEventOptions,
): EventOf<T> {
  const traceparent = options.traceparent ?? traceparentSource?.();
  const event = {
    id: options.id ?? newEventId(),
    type,
    version: eventVersion,
    source: options.source,
    occurredAt: (options.occurredAt ?? new Date()).toISOString(),
    correlationId: options.correlationId,
    ...(traceparent === undefined ? {} : { traceparent }),
    data,
  };
  return validateEvent(type, event);
}

let lastIdMs = 0;
let idSequence = 0;

/** UUIDv7 whose 12-bit counter keeps ids from one process in creation order. */
export function newEventId(nowMs: number = Date.now()): string {
  if (nowMs > lastIdMs) {
    lastIdMs = nowMs;
    idSequence = 0;
  } else {
    idSequence += 1;
    if (idSequence > 0xfff) {
      lastIdMs += 1;
      idSequence = 0;
    }
  }
  const random = randomUUID().replaceAll('-', '');
  const msHex = lastIdMs.toString(16).padStart(12, '0');
  const sequenceHex = (0x7000 | idSequence).toString(16);
  const variant = ((Number.parseInt(random[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${msHex.slice(0, 8)}-${msHex.slice(8)}-${sequenceHex}-${variant}${random.slice(17, 20)}-${random.slice(20, 32)}`;
}
