// The client's own record of a run: every operation it meant, every attempt
// it made, and the definite answer it finally got. The invariants are checked
// against this record — what the bank told its customers — and the bank's
// own state is read only to compare with it.

export type OperationKind =
  | 'signup'
  | 'login'
  | 'open-account'
  | 'deposit'
  | 'withdrawal'
  | 'transfer'
  | 'payment'
  | 'point-charge'
  | 'coupon-issue'
  | 'read';

/** Operations whose answer needs the core zone at that moment (the rest are the channel's alone). */
export const coreBoundKinds: ReadonlySet<OperationKind> = new Set([
  'signup',
  'open-account',
  'withdrawal',
  'transfer',
]);

export interface Operation {
  id: number;
  kind: OperationKind;
  /** Index of the customer in the record. */
  customer: number;
  /** `GET /api/v1/accounts/:accountNo` and the like, for reads and grouping. */
  route: string;
  accountNo?: string;
  toAccountNo?: string;
  amount?: number;
  cashAmount?: number;
  pointAmount?: number;
  campaignId?: string;
  /** The Idempotency-Key every attempt carried. */
  key?: string;
  startedAt: number;
  endedAt?: number;
  attempts: number;
  /** `definite`: a 2xx or 4xx the client accepts as the answer; `indeterminate`: none came before the end. */
  outcome: 'pending' | 'definite' | 'indeterminate';
  status?: number;
  code?: string;
  /** What the answer named: depositId, withdrawalId, transferId, paymentId, couponId, accountNo. */
  ref?: string;
  /** Deposits and payments: the state read back after the run (COMPLETED, FAILED, PENDING). */
  settled?: { status: string; at?: string; failureCode?: string; readAt: number };
}

export interface CustomerRecord {
  index: number;
  loginId: string;
  userUuid: string;
  accounts: string[];
}

export interface CampaignRecord {
  campaignId: string;
  quantity: number;
  createdAt: number;
}

/** A 5xx answer whose body broke the problem+json promise (no code, or internals in it). */
export interface BadServerError {
  at: number;
  route: string;
  status: number;
  contentType: string;
  /** Why it is bad; never the body itself when it might carry personal data. */
  reason: string;
}
