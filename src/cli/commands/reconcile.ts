import type { CliConfig } from '../config.ts';
import { CliError } from '../log.ts';
import { environmentWithSecrets } from '../secrets.ts';

const requestTimeoutMs = 60_000;

interface CoreReconciliation {
  ok: boolean;
  checkedAt: string;
  accountsChecked: number;
  balanceMismatches: Array<{ accountNo: string; balance: number; ledgerSum: number }>;
  unbalancedTransactions: string[];
  duplicateApplications: unknown[];
}

/**
 * Asks core-payment for its reconciliation (it owns the ledger; nobody reads
 * its database but itself), prints the report and returns the exit code:
 * 0 when everything agrees, 1 on any mismatch, 2 when it could not check.
 * Point and coupon checks join this report with their services.
 */
export async function reconcile(config: CliConfig): Promise<number> {
  const token = environmentWithSecrets().NURI_INTERNAL_TOKEN;
  const baseUrl = config.NURI_CORE_PAYMENT_URL;
  let report: CoreReconciliation;
  try {
    const response = await fetch(`${baseUrl}/internal/v1/reconciliation`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    if (response.status !== 200)
      throw new CliError(`core-payment answered ${response.status}: ${await response.text()}`, 2);
    report = (await response.json()) as CoreReconciliation;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      `could not reach core-payment at ${baseUrl} (is \`npm start\` running?): ${(error as Error).message}`,
      2,
    );
  }
  printReport(report);
  return report.ok ? 0 : 1;
}

function printReport(report: CoreReconciliation): void {
  const line = (label: string, value: string | number, ok: boolean) =>
    process.stdout.write(`${ok ? 'OK  ' : 'FAIL'}  ${label.padEnd(44)} ${value}\n`);
  process.stdout.write(`Nuri Bank reconciliation at ${report.checkedAt}\n`);
  line('accounts checked', report.accountsChecked, true);
  line(
    'balance = ledger sum, every account',
    `${report.balanceMismatches.length} mismatches`,
    report.balanceMismatches.length === 0,
  );
  for (const mismatch of report.balanceMismatches) {
    process.stdout.write(
      `      ${mismatch.accountNo}: balance ${mismatch.balance}, ledger ${mismatch.ledgerSum}\n`,
    );
  }
  line(
    'every transaction balances (debits = credits)',
    `${report.unbalancedTransactions.length} unbalanced`,
    report.unbalancedTransactions.length === 0,
  );
  line(
    'every deposit/payment applied at most once',
    `${report.duplicateApplications.length} duplicates`,
    report.duplicateApplications.length === 0,
  );
  process.stdout.write(`${report.ok ? 'RECONCILED' : 'MISMATCH'}\n`);
}
