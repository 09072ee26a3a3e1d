import assert from 'node:assert/strict';

// Double entry: each movement is one transaction with two legs of equal
// amount, the customer's account on one side and an internal contra account
// on the other. A customer account is what the bank owes the customer, so a
// deposit credits it and a withdrawal or payment debits it; its balance is
// Σ credits − Σ debits of its legs.

export type MovementType = 'DEPOSIT' | 'WITHDRAWAL' | 'PAYMENT';
export type Side = 'DEBIT' | 'CREDIT';

export const internalAccounts = {
  depositClearing: 'INTERNAL:DEPOSIT_CLEARING',
  cashOut: 'INTERNAL:CASH_OUT',
  merchantSettlement: 'INTERNAL:MERCHANT_SETTLEMENT',
} as const;

const contraAccountByType: Readonly<Record<MovementType, string>> = {
  DEPOSIT: internalAccounts.depositClearing,
  WITHDRAWAL: internalAccounts.cashOut,
  PAYMENT: internalAccounts.merchantSettlement,
};

export interface Movement {
  transactionId: string;
  type: MovementType;
  /** The business id (depositId, withdrawalId, paymentId): unique per type. */
  reference: string;
  accountNo: string;
  amount: bigint;
  /** The customer account's balance once this movement is applied. */
  balanceAfter: bigint;
}

export interface Leg {
  accountNo: string;
  side: Side;
  amount: bigint;
  /** Null on internal accounts, which keep no running balance. */
  balanceAfter: bigint | null;
}

export function customerSide(type: MovementType): Side {
  return type === 'DEPOSIT' ? 'CREDIT' : 'DEBIT';
}

/** The two legs of a movement: customer first, contra second. */
export function legsOf(movement: Movement): [Leg, Leg] {
  assert.ok(movement.amount > 0n, `movement ${movement.reference} has a non-positive amount`);
  assert.ok(movement.balanceAfter >= 0n, `movement ${movement.reference} would leave a negative balance`);
  const side = customerSide(movement.type);
  return [
    { accountNo: movement.accountNo, side, amount: movement.amount, balanceAfter: movement.balanceAfter },
    {
      accountNo: contraAccountByType[movement.type],
      side: side === 'CREDIT' ? 'DEBIT' : 'CREDIT',
      amount: movement.amount,
      balanceAfter: null,
    },
  ];
}

/** Signed effect of a leg on its account's balance (credit positive). */
export function signedAmount(leg: Pick<Leg, 'side' | 'amount'>): bigint {
  return leg.side === 'CREDIT' ? leg.amount : -leg.amount;
}
