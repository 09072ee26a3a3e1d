import type { PaymentStatus, SagaDecision } from './payment-saga.ts';

/** One payment.settled event, as the saga needs it. */
export interface CashOutcome {
  paymentId: string;
  userUuid: string;
  outcome: { status: 'SUCCEEDED' } | { status: 'FAILED'; failureCode: string };
}

export interface SettlementRecord {
  paymentId: string;
  decision: SagaDecision;
}

export interface SettlementStore {
  /**
   * Applies the outcomes in one transaction: each payment's decision, its
   * effects and its status move together. An outcome applied before meets a
   * terminal payment and is ignored, so a redelivery is harmless.
   */
  settle(outcomes: readonly CashOutcome[]): Promise<SettlementRecord[]>;
}

export interface TimeoutStore {
  /** Re-sends (or reports stuck) the PENDING payments whose latest request is overdue at `now`. */
  handleOverdue(now: Date, batchSizeMax: number): Promise<{ resent: number; stuck: number }>;
  /**
   * An operator's resolution of a payment reported stuck: one more cash
   * request (never a refund: the cash may have moved). `notStuck` for any
   * payment that is not PENDING and stuck.
   */
  retryStuck(paymentId: string, now: Date): Promise<'retried' | 'notFound' | 'notStuck'>;
}

export interface StuckPayment {
  paymentId: string;
  createdAt: Date;
  attempts: number;
}

export interface WalletMismatch {
  userUuid: string;
  balance: bigint;
  expected: bigint;
}

export interface PaymentMismatch {
  paymentId: string;
  /** null when history names a payment that does not exist. */
  status: PaymentStatus | null;
  problem: string;
}

export interface ReconciliationReport {
  checkedAt: Date;
  ok: boolean;
  stuckPayments: StuckPayment[];
  pendingOverdue: number;
  walletMismatches: WalletMismatch[];
  paymentMismatches: PaymentMismatch[];
}

export interface ReconciliationStore {
  stuckPayments(now: Date, limit: number): Promise<StuckPayment[]>;
  countPendingOlderThan(cutoff: Date): Promise<number>;
  walletMismatches(limit: number): Promise<WalletMismatch[]>;
  paymentMismatches(limit: number): Promise<PaymentMismatch[]>;
}

/** Each list in the report is capped: it is an alarm, not an export. */
export const reconciliationListMax = 100;

/**
 * `nuri reconcile`'s view of point: a payment is fine when terminal or younger
 * than its timeout; a wallet when balance = Σ CHARGE − Σ USE + Σ REFUND; a
 * payment's point rows must match its status (one USE when it used points,
 * one REFUND exactly when it FAILED).
 */
export async function reconcile(
  store: ReconciliationStore,
  now: Date,
  timeoutMs: number,
): Promise<ReconciliationReport> {
  const [stuckPayments, pendingOverdue, walletMismatches, paymentMismatches] = await Promise.all([
    store.stuckPayments(now, reconciliationListMax),
    store.countPendingOlderThan(new Date(now.getTime() - timeoutMs)),
    store.walletMismatches(reconciliationListMax),
    store.paymentMismatches(reconciliationListMax),
  ]);
  const ok =
    stuckPayments.length === 0 &&
    pendingOverdue === 0 &&
    walletMismatches.length === 0 &&
    paymentMismatches.length === 0;
  return { checkedAt: now, ok, stuckPayments, pendingOverdue, walletMismatches, paymentMismatches };
}
