import { type Static, Type } from 'typebox';

// What channel-user and core-payment each report about the deposits of one
// id range, so `nuri reconcile` can hold one against the other: no service
// reads another's database. Deposit ids are UUIDv7, so a range of ids is a
// range of request times.

const uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

const StatusTotal = Type.Object({
  count: Type.Integer({ minimum: 0 }),
  /** Integer won, as a decimal string: a sum may pass 2^53. */
  amount: Type.String({ pattern: '^\\d+$' }),
});

export const DepositTotalsQuerySchema = Type.Object({
  /** First deposit id of the range (inclusive). */
  from: uuid,
  /** End of the range (exclusive). */
  to: uuid,
  /** Also list the ids by status (at most `depositIdsMax`), to name the ones that differ. */
  detail: Type.Optional(Type.Boolean()),
});

export const depositIdsMax = 50_000;

export const DepositTotalsSchema = Type.Object({
  byStatus: Type.Record(Type.String({ pattern: '^(PENDING|COMPLETED|FAILED)$' }), StatusTotal),
  ids: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
});

export type DepositTotals = Static<typeof DepositTotalsSchema>;
