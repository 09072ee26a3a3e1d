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

export interface LedgerFindings {
  accountsChecked: number;
  balanceMismatches: BalanceMismatch[];
  unbalancedTransactions: string[];
  duplicateApplications: DuplicateApplication[];
}

export interface ReconciliationStore {
  /** Scans the ledger: balance = Σ credits − Σ debits per account; legs of a transaction sum to zero; a reference applied once. */
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
    findings.duplicateApplications.length === 0;
  return { checkedAt, ...findings, ok };
}
