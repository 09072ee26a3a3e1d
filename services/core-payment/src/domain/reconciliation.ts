import type { DepositTotals } from '@nuri/contracts/reconciliation';
/** Findings are capped so the report stays readable and bounded even when much is wrong. */
export const findingsPerCheckMax = 100;

export interface BalanceMismatch {
  accountNo: string;
  balance: bigint;
  ledgerSum: bigint;
}

export interface DuplicateApplication {
  type: string;
  reference: string;
  applications: number;
}

/**
 * Where the money in customer accounts came from: Σ balances must equal
 * Σ deposits − Σ withdrawals − Σ payments, since a transfer only moves money
 * between accounts (its legs out and in are equal).
 */
export interface MoneySupply {
  balances: bigint;
  deposits: bigint;
  withdrawals: bigint;
  payments: bigint;
  transfersOut: bigint;
  transfersIn: bigint;
}

export interface LedgerFindings {
  accountsChecked: number;
  balanceMismatches: BalanceMismatch[];
  unbalancedTransactions: string[];
  duplicateApplications: DuplicateApplication[];
  moneySupply: MoneySupply;
  /** Transfers recorded as moved without their ledger transaction, or a ledger transfer without its record. */
  transferMismatches: string[];
}

export function moneySupplyHolds(supply: MoneySupply): boolean {
  return (
    supply.balances === supply.deposits - supply.withdrawals - supply.payments &&
    supply.transfersOut === supply.transfersIn
  );
}

export interface ReconciliationStore {
  /**
   * Scans the ledger: balance = Σ credits − Σ debits per account; legs of a
   * transaction sum to zero; a reference applied once; the money supply; every
   * transfer record matched by its ledger transaction.
   */
  findLedgerProblems(findingsMax: number): Promise<LedgerFindings>;
  /** The deposits settled here in an id range by outcome (contracts/reconciliation.ts). */
  depositTotals(range: { from: string; to: string; detail: boolean }): Promise<DepositTotals>;
}

export interface ReconciliationReport extends LedgerFindings {
  checkedAt: Date;
  ok: boolean;
}

export async function reconcile(
  store: Pick<ReconciliationStore, 'findLedgerProblems'>,
  now: () => Date = () => new Date(),
): Promise<ReconciliationReport> {
  const checkedAt = now();
  const findings = await store.findLedgerProblems(findingsPerCheckMax);
  const ok =
    findings.balanceMismatches.length === 0 &&
    findings.unbalancedTransactions.length === 0 &&
    findings.duplicateApplications.length === 0 &&
    findings.transferMismatches.length === 0 &&
    moneySupplyHolds(findings.moneySupply);
  return { checkedAt, ...findings, ok };
}
