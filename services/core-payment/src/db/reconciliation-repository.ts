import { type DepositTotals, depositIdsMax } from '@nuri/contracts/reconciliation';
import { parseDbAmount } from '@nuri/platform/money';
import { type Kysely, sql } from 'kysely';
import type { ReconciliationStore } from '../domain/reconciliation.ts';
import type { ServiceDb } from './database.ts';

// Full scans of accounts and ledger_entries: fine at today's size, and the
// findings are capped. A ledger of hundreds of millions of entries would want
// per-account checkpoints (balance as of entry N) so each run only sums the tail.
export function createReconciliationStore(db: Kysely<ServiceDb>): ReconciliationStore {
  return {
    async depositTotals(range) {
      const totals = await sql<{ status: string; count: string; amount: string }>`
        select status, count(*) as count, coalesce(sum(amount), 0) as amount from deposits
        where deposit_id >= ${range.from}::uuid and deposit_id < ${range.to}::uuid
        group by status`.execute(db);
      const byStatus: DepositTotals['byStatus'] = {};
      for (const row of totals.rows) byStatus[row.status] = { count: Number(row.count), amount: row.amount };
      if (!range.detail) return { byStatus };
      const rows = await sql<{ deposit_id: string; status: string }>`
        select deposit_id, status from deposits
        where deposit_id >= ${range.from}::uuid and deposit_id < ${range.to}::uuid
        order by deposit_id limit ${depositIdsMax}`.execute(db);
      const ids: Record<string, string[]> = {};
      for (const row of rows.rows) {
        const list = ids[row.status] ?? [];
        list.push(row.deposit_id);
        ids[row.status] = list;
      }
      return { byStatus, ids };
    },

    async findLedgerProblems(findingsMax) {
      // Statements read one snapshot, so a movement committing mid-check cannot look like a mismatch.
      return db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(async (trx) => {
          const checked = await sql<{ accounts: string }>`select count(*) as accounts from accounts`.execute(
            trx,
          );
          const mismatches = await sql<{ account_no: string; balance: string; ledger_sum: string }>`
          select a.account_no, a.balance, coalesce(s.ledger_sum, 0) as ledger_sum
          from accounts a
          left join (
            select account_no, sum(case side when 'CREDIT' then amount else -amount end) as ledger_sum
            from ledger_entries where account_no not like 'INTERNAL:%'
            group by account_no
          ) s on s.account_no = a.account_no
          where a.balance <> coalesce(s.ledger_sum, 0)
          order by a.account_no
          limit ${findingsMax}`.execute(trx);
          // Two legs that cancel out, or a transaction with no legs at all.
          const unbalanced = await sql<{ id: string }>`
          select t.id from ledger_transactions t
          left join (
            select transaction_id, count(*) as legs, sum(case side when 'CREDIT' then amount else -amount end) as net
            from ledger_entries group by transaction_id
          ) e on e.transaction_id = t.id
          where e.transaction_id is null or e.legs <> 2 or e.net <> 0
          order by t.id
          limit ${findingsMax}`.execute(trx);
          // UNIQUE(type, reference) forbids this; the check proves it from the legs, independently of the constraint.
          const duplicates = await sql<{ type: string; reference: string; applications: string }>`
          select type, reference, count(*) as applications from ledger_entries
          where account_no not like 'INTERNAL:%'
          group by type, reference having count(*) > 1
          order by type, reference
          limit ${findingsMax}`.execute(trx);
          const supply = await sql<{
            balances: string;
            deposits: string;
            withdrawals: string;
            payments: string;
            transfers_out: string;
            transfers_in: string;
          }>`
          select (select coalesce(sum(balance), 0) from accounts) as balances,
                 coalesce(sum(amount) filter (where type = 'DEPOSIT'), 0) as deposits,
                 coalesce(sum(amount) filter (where type = 'WITHDRAWAL'), 0) as withdrawals,
                 coalesce(sum(amount) filter (where type = 'PAYMENT'), 0) as payments,
                 coalesce(sum(amount) filter (where type = 'TRANSFER_OUT'), 0) as transfers_out,
                 coalesce(sum(amount) filter (where type = 'TRANSFER_IN'), 0) as transfers_in
          from ledger_entries where account_no not like 'INTERNAL:%'`.execute(trx);
          const totals = supply.rows[0]!;
          // Both directions: a transfer that says it moved money has its ledger
          // transaction (same id as reference), and the ledger has no transfer nobody decided.
          const unmatched = await sql<{ reference: string }>`
          select coalesce(t.transfer_id::text, l.reference) as reference
          from (select transfer_id from transfers where status = 'SUCCEEDED') t
          full join (select reference from ledger_transactions where type = 'TRANSFER') l
            on l.reference = t.transfer_id::text
          where t.transfer_id is null or l.reference is null
          order by 1
          limit ${findingsMax}`.execute(trx);
          return {
            accountsChecked: Number(checked.rows[0]?.accounts ?? 0),
            moneySupply: {
              balances: parseDbAmount(totals.balances),
              deposits: parseDbAmount(totals.deposits),
              withdrawals: parseDbAmount(totals.withdrawals),
              payments: parseDbAmount(totals.payments),
              transfersOut: parseDbAmount(totals.transfers_out),
              transfersIn: parseDbAmount(totals.transfers_in),
            },
            transferMismatches: unmatched.rows.map((row) => row.reference),
            balanceMismatches: mismatches.rows.map((row) => ({
              accountNo: row.account_no,
              balance: parseDbAmount(row.balance),
              ledgerSum: parseDbAmount(row.ledger_sum),
            })),
            unbalancedTransactions: unbalanced.rows.map((row) => row.id),
            duplicateApplications: duplicates.rows.map((row) => ({
              type: row.type,
              reference: row.reference,
              applications: Number(row.applications),
            })),
          };
        });
    },
  };
}
