// The composite payment saga (docs/architecture.md "Composite payment"), choreographed
// over Kafka, as one state machine. Everything the saga can do is in this
// file; the repositories only carry out the effects a decision names, in the
// transaction that also moves the status.
//
//   step                         where              compensation
//   1. deduct points             point (MySQL)      refund points (+ REFUND row)
//   2. debit cash — the PIVOT    core-payment       none: once cash may have
//                                                   moved, we only go forward
//   3. complete                  point              —
//
//            ACCEPTED (cash 0)
//   NEW ───────────────────────────────────────────────▶ COMPLETED
//    │ ACCEPTED (cash > 0): DEDUCT_POINTS, REQUEST_CASH(1)     ▲
//    ▼                                                         │ CASH_SUCCEEDED
//   PENDING ───────────────────────────────────────────────────┘
//    │  ▲ CASH_TIMED_OUT: REQUEST_CASH(n+1), or REPORT_STUCK once attempts run out
//    │  └─┘ (never a compensation: the cash outcome is unknown, not negative);
//    │      OPERATOR_RETRY on a stuck payment: REQUEST_CASH(n+1) once more
//    │ CASH_FAILED: REFUND_POINTS
//    ▼
//   FAILED
//
// Terminal states ignore every later cash event: the core answers a re-sent
// request with the outcome it already had, and Kafka may redeliver or reorder
// them, so a late or duplicate event is expected and must change nothing.

export type SagaStatus = 'NEW' | 'PENDING' | 'COMPLETED' | 'FAILED';
export type PaymentStatus = Exclude<SagaStatus, 'NEW'>;

export interface SagaState {
  status: SagaStatus;
  cashAmount: bigint;
  pointAmount: bigint;
  /** Cash requests sent so far (0 before acceptance). */
  attempts: number;
}

export type SagaEvent =
  /** The user's request passed validation and ownership checks. */
  | { type: 'ACCEPTED' }
  /** payment.settled SUCCEEDED from the core. */
  | { type: 'CASH_SUCCEEDED' }
  /** payment.settled FAILED from the core, with its reason. */
  | { type: 'CASH_FAILED'; failureCode: string }
  /** No answer within the timeout of the latest request. */
  | { type: 'CASH_TIMED_OUT'; attemptsMax: number }
  /**
   * An operator resolves a payment reported stuck: one more cash request,
   * never a refund (the cash may have moved; the core answers a repeat with
   * its outcome, so asking again is what finds out).
   */
  | { type: 'OPERATOR_RETRY' };

export type SagaEffect =
  /** Step 1. Conditional: fails the whole acceptance when the wallet does not cover it. */
  | { type: 'DEDUCT_POINTS'; amount: bigint }
  /** Step 2 (the pivot), sent through the outbox; the same paymentId on every attempt. */
  | { type: 'REQUEST_CASH'; attempt: number }
  /** Compensation of step 1. */
  | { type: 'REFUND_POINTS'; amount: bigint }
  /** Attempts exhausted while the outcome is unknown: a human (or reconciliation) must look. */
  | { type: 'REPORT_STUCK' };

export type SagaDecision =
  | {
      kind: 'transition';
      from: SagaStatus;
      to: PaymentStatus;
      effects: SagaEffect[];
      failureCode?: string;
    }
  | { kind: 'ignored'; reason: 'ALREADY_TERMINAL' | 'CONFLICTING_OUTCOME' };

/** An event that cannot happen in this state: a bug or a forged message, never a race. */
export class IllegalSagaTransitionError extends Error {
  readonly status: SagaStatus;
  readonly eventType: SagaEvent['type'];
  constructor(status: SagaStatus, eventType: SagaEvent['type']) {
    super(`payment saga: ${eventType} is not allowed in state ${status}`);
    this.name = 'IllegalSagaTransitionError';
    this.status = status;
    this.eventType = eventType;
  }
}

export function isTerminal(status: SagaStatus): boolean {
  return status === 'COMPLETED' || status === 'FAILED';
}

/** What the saga does when `event` arrives in `state`. Pure: no I/O, no clock. */
export function decide(state: SagaState, event: SagaEvent): SagaDecision {
  switch (state.status) {
    case 'NEW':
      return decideNew(state, event);
    case 'PENDING':
      return decidePending(state, event);
    case 'COMPLETED':
    case 'FAILED':
      return decideTerminal(state.status, event);
  }
}

function decideNew(state: SagaState, event: SagaEvent): SagaDecision {
  if (event.type !== 'ACCEPTED') throw new IllegalSagaTransitionError('NEW', event.type);
  const deduct: SagaEffect[] =
    state.pointAmount > 0n ? [{ type: 'DEDUCT_POINTS', amount: state.pointAmount }] : [];
  // Nothing to debit: the pivot is skipped and the points alone settle the payment.
  if (state.cashAmount === 0n) return { kind: 'transition', from: 'NEW', to: 'COMPLETED', effects: deduct };
  return {
    kind: 'transition',
    from: 'NEW',
    to: 'PENDING',
    effects: [...deduct, { type: 'REQUEST_CASH', attempt: 1 }],
  };
}

function decidePending(state: SagaState, event: SagaEvent): SagaDecision {
  switch (event.type) {
    case 'ACCEPTED':
      throw new IllegalSagaTransitionError('PENDING', event.type);
    case 'CASH_SUCCEEDED':
      return { kind: 'transition', from: 'PENDING', to: 'COMPLETED', effects: [] };
    case 'CASH_FAILED': {
      const refund: SagaEffect[] =
        state.pointAmount > 0n ? [{ type: 'REFUND_POINTS', amount: state.pointAmount }] : [];
      return {
        kind: 'transition',
        from: 'PENDING',
        to: 'FAILED',
        effects: refund,
        failureCode: event.failureCode,
      };
    }
    case 'CASH_TIMED_OUT': {
      const effect: SagaEffect =
        state.attempts < event.attemptsMax
          ? { type: 'REQUEST_CASH', attempt: state.attempts + 1 }
          : { type: 'REPORT_STUCK' };
      return { kind: 'transition', from: 'PENDING', to: 'PENDING', effects: [effect] };
    }
    case 'OPERATOR_RETRY':
      return {
        kind: 'transition',
        from: 'PENDING',
        to: 'PENDING',
        effects: [{ type: 'REQUEST_CASH', attempt: state.attempts + 1 }],
      };
  }
}

function decideTerminal(status: 'COMPLETED' | 'FAILED', event: SagaEvent): SagaDecision {
  if (event.type === 'ACCEPTED') throw new IllegalSagaTransitionError(status, event.type);
  if (event.type === 'OPERATOR_RETRY') return { kind: 'ignored', reason: 'ALREADY_TERMINAL' };
  // The core settles a paymentId once and repeats that outcome; an opposite
  // one would mean two truths about the same cash, which is worth an alarm
  // but still must not move points a second time.
  const conflicting =
    (status === 'COMPLETED' && event.type === 'CASH_FAILED') ||
    (status === 'FAILED' && event.type === 'CASH_SUCCEEDED');
  return { kind: 'ignored', reason: conflicting ? 'CONFLICTING_OUTCOME' : 'ALREADY_TERMINAL' };
}

/** Applies a decision to a state (what the repositories persist); ignored decisions leave it unchanged. */
export function applyDecision(state: SagaState, decision: SagaDecision): SagaState {
  if (decision.kind === 'ignored') return state;
  const requested = decision.effects.find((effect) => effect.type === 'REQUEST_CASH');
  return {
    ...state,
    status: decision.to,
    attempts: requested === undefined ? state.attempts : requested.attempt,
  };
}
