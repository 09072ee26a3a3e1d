import { PaymentsOverviewSchema } from '@nuri/contracts/operations';
import Type, { type Static } from 'typebox';

// The operator console's API (docs/api.md "Operations"), answered by the gateway
// itself. Counts, ids, states and masked values only: nothing here can carry
// a name, an RRN or a phone number, nor an /internal/* path.

const Timestamp = Type.String({ format: 'date-time' });
const Zone = Type.Union([Type.Literal('core'), Type.Literal('channel'), Type.Literal('edge')]);

/** Instances listed per service at most (the supervisor runs up to ten; Kubernetes one address). */
export const instancesListedMax = 64;

export const ServicesAnswer = Type.Object({
  items: Type.Array(
    Type.Object({
      service: Type.String(),
      zone: Zone,
      ready: Type.Integer({ minimum: 0 }),
      total: Type.Integer({ minimum: 0 }),
      instances: Type.Array(
        Type.Object({
          url: Type.String(),
          state: Type.Union([Type.Literal('ready'), Type.Literal('down')]),
          pid: Type.Optional(Type.Integer({ minimum: 1 })),
          startedAt: Type.Optional(Timestamp),
          restarts: Type.Optional(Type.Integer({ minimum: 0 })),
        }),
        { maxItems: instancesListedMax },
      ),
    }),
  ),
});

export type ServicesAnswer = Static<typeof ServicesAnswer>;
export type ServiceItem = ServicesAnswer['items'][number];

export const KafkaLagAnswer = Type.Object({
  items: Type.Array(
    Type.Object({
      group: Type.String(),
      topic: Type.String(),
      lag: Type.Integer({ minimum: 0 }),
      partitions: Type.Integer({ minimum: 0 }),
    }),
  ),
  brokerReachable: Type.Boolean(),
});

export const OutboxAnswer = Type.Object({
  items: Type.Array(
    Type.Object({
      service: Type.String(),
      /** False when the service could not be asked in time: then pending and oldestAgeSeconds are null. */
      reachable: Type.Boolean(),
      /** Events written but not yet published (counted up to 1,000,000). */
      pending: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
      oldestAgeSeconds: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    }),
  ),
});

export type OutboxItem = Static<typeof OutboxAnswer>['items'][number];

export const dlqListedMax = 500;
/** Each letter's error is cut to this many characters. */
export const dlqErrorLengthMax = 300;

export const DlqQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: dlqListedMax, default: 100 }),
});

const DeadLetterRef = Type.String({ pattern: '^[A-Za-z0-9._-]{1,249}/[0-9]{1,6}/[0-9]{1,20}$' });

export const DlqAnswer = Type.Object({
  /** Newest first, at most `limit`. */
  items: Type.Array(
    Type.Object({
      /** `<topic>.dlq/<partition>/<offset>`: what POST /api/v1/admin/dlq/replays names. */
      ref: Type.String(),
      /** Where it came from and is replayed to. */
      topic: Type.String(),
      eventType: Type.Union([Type.String(), Type.Null()]),
      eventId: Type.Union([Type.String(), Type.Null()]),
      failedAt: Type.Union([Timestamp, Type.Null()]),
      group: Type.String(),
      kind: Type.String(),
      /** Why it failed, redacted and cut to 300 characters. */
      error: Type.String({ maxLength: dlqErrorLengthMax }),
      replayedAt: Type.Union([Timestamp, Type.Null()]),
    }),
    { maxItems: dlqListedMax },
  ),
  /** Every dead letter (not only the listed ones), by the topic it came from. */
  byTopic: Type.Array(Type.Object({ topic: Type.String(), count: Type.Integer({ minimum: 0 }) })),
});

export type DlqAnswer = Static<typeof DlqAnswer>;

export const replayRefsMax = 100;

export const ReplayBody = Type.Object({
  refs: Type.Optional(Type.Array(DeadLetterRef, { minItems: 1, maxItems: replayRefsMax, uniqueItems: true })),
  all: Type.Optional(Type.Boolean()),
  again: Type.Optional(Type.Boolean()),
});

export type ReplayBody = Static<typeof ReplayBody>;

export const ReplayAnswer = Type.Object({
  replayed: Type.Array(Type.String()),
  skipped: Type.Array(Type.String()),
});

export type ReplayAnswer = Static<typeof ReplayAnswer>;

export const PaymentsAnswer = PaymentsOverviewSchema;

export const ReconciliationAnswer = Type.Object({
  ok: Type.Boolean(),
  ranAt: Timestamp,
  services: Type.Array(
    Type.Object({
      service: Type.String(),
      checks: Type.Array(Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String() })),
    }),
  ),
});

export type ReconciliationAnswer = Static<typeof ReconciliationAnswer>;

export const RateLimitsAnswer = Type.Object({
  windowSeconds: Type.Literal(3600),
  items: Type.Array(Type.Object({ limiter: Type.String(), refusals: Type.Integer({ minimum: 0 }) })),
});
