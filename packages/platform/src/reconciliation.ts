import { uuidv7Floor } from './ids.ts';

// Reconciliation (docs/api.md "Operations"): every service that owns data reports
// on it through an internal route, and this gathers the reports into checks
// that hold or not. `nuri reconcile` prints them; the gateway answers the
// operator console's POST /api/v1/admin/reconciliations with them. How a
// service is reached is the caller's (a ReportReader).

/** One line of the report: a check that holds or not, with the findings that break it. */
export interface Check {
  label: string;
  ok: boolean;
  summary: string;
  findings: string[];
}

/** The services that answer for their data. */
export type ReportingService = 'core-payment' | 'point' | 'coupon' | 'channel-user';

/**
 * Asks a service's internal route (path and query) for its JSON report;
 * rejects, with a message that says why, when the service cannot be asked.
 */
export type ReportReader = (service: ReportingService, path: string) => Promise<Record<string, unknown>>;

/** A section of the report; `unreachable` says why its service could not be asked (then it has no checks). */
export interface ServiceChecks {
  service: string;
  checks: Check[];
  unreachable?: string;
}

/**
 * A service that owns data answers for it: nobody reads another service's
 * database, so each one exposes GET /internal/v1/reconciliation and the
 * reconciliation only gathers. `checks` turns its report into lines.
 */
interface Source {
  service: ReportingService;
  checks: (report: Record<string, unknown>) => Check[];
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const count = (value: unknown, noun: string) => `${list(value).length} ${noun}`;
const show = (value: unknown) => list(value).map((item) => JSON.stringify(item));

/**
 * Σ balances = Σ deposits − Σ withdrawals − Σ payments: transfers move money
 * between accounts and never change the total.
 */
function moneySupplyCheck(value: unknown): Check {
  const supply = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const won = (name: string) =>
    typeof supply[name] === 'string' ? BigInt(supply[name] as string) : undefined;
  const [balances, deposits, withdrawals, payments, out, into] = [
    'balances',
    'deposits',
    'withdrawals',
    'payments',
    'transfersOut',
    'transfersIn',
  ].map(won);
  if ([balances, deposits, withdrawals, payments, out, into].some((amount) => amount === undefined)) {
    return {
      label: 'Σ balances = deposits − withdrawals − payments',
      ok: false,
      summary: 'not reported',
      findings: [],
    };
  }
  const expected = deposits! - withdrawals! - payments!;
  const ok = balances === expected && out === into;
  return {
    label: 'Σ balances = deposits − withdrawals − payments',
    ok,
    summary: `₩${balances} (transfers ₩${out} out, ₩${into} in)`,
    findings: ok ? [] : [`balances ₩${balances}, expected ₩${expected}; transfers out ₩${out}, in ₩${into}`],
  };
}

function sources(): Source[] {
  return [
    {
      service: 'core-payment',
      checks: (report) => [
        { label: 'accounts checked', ok: true, summary: String(report.accountsChecked), findings: [] },
        {
          label: 'balance = ledger sum, every account',
          ok: list(report.balanceMismatches).length === 0,
          summary: count(report.balanceMismatches, 'mismatches'),
          findings: show(report.balanceMismatches),
        },
        {
          label: 'every transaction balances (debits = credits)',
          ok: list(report.unbalancedTransactions).length === 0,
          summary: count(report.unbalancedTransactions, 'unbalanced'),
          findings: show(report.unbalancedTransactions),
        },
        {
          label: 'every deposit/payment/transfer applied at most once',
          ok: list(report.duplicateApplications).length === 0,
          summary: count(report.duplicateApplications, 'duplicates'),
          findings: show(report.duplicateApplications),
        },
        moneySupplyCheck(report.moneySupply),
        {
          label: 'every transfer moved in the ledger, and only those',
          ok: list(report.transferMismatches).length === 0,
          summary: count(report.transferMismatches, 'unmatched'),
          findings: show(report.transferMismatches),
        },
      ],
    },
    {
      service: 'point',
      checks: (report) => [
        {
          label: 'every payment terminal or younger than its timeout',
          ok: list(report.stuckPayments).length === 0 && report.pendingOverdue === 0,
          summary: `${count(report.stuckPayments, 'stuck')}, ${String(report.pendingOverdue)} overdue`,
          findings: show(report.stuckPayments),
        },
        {
          label: 'wallet = charged - used + refunded, every user',
          ok: list(report.walletMismatches).length === 0,
          summary: count(report.walletMismatches, 'mismatches'),
          findings: show(report.walletMismatches),
        },
        {
          label: 'one USE per payment, one REFUND per FAILED',
          ok: list(report.paymentMismatches).length === 0,
          summary: count(report.paymentMismatches, 'mismatches'),
          findings: show(report.paymentMismatches),
        },
      ],
    },
    {
      service: 'coupon',
      checks: (report) => [
        {
          label: 'coupons issued in Redis = recorded in the core',
          ok: list(report.mismatches).length === 0,
          summary:
            `${count(report.mismatches, 'mismatches')} of ${count(report.campaigns, 'campaigns')}` +
            (list(report.notLoaded).length > 0
              ? `, ${count(report.notLoaded, 'not in Redis (not compared)')}`
              : ''),
          findings: show(report.mismatches),
        },
      ],
    },
  ];
}

/**
 * Every service's checks, each service asked at once. A service that cannot
 * be asked is a section with no checks and the reason (`unreachable`): the
 * caller decides what that means (the CLI exits 2, the console shows it).
 */
export async function gatherReconciliation(read: ReportReader, now = Date.now()): Promise<ServiceChecks[]> {
  return Promise.all([
    ...sources().map((source) =>
      askingOnce(source.service, async () =>
        source.checks(await read(source.service, '/internal/v1/reconciliation')),
      ),
    ),
    askingOnce(depositsSection, () => depositChecks(read, now)),
  ]);
}

async function askingOnce(service: string, checks: () => Promise<Check[]>): Promise<ServiceChecks> {
  try {
    return { service, checks: await checks() };
  } catch (error) {
    return { service, checks: [], unreachable: error instanceof Error ? error.message : String(error) };
  }
}

const depositsSection = 'deposits (channel-user ↔ core-payment, last 7 days)';

/** Deposits requested more recently than this may still be on their way: not compared yet. */
const depositSettleMs = 5 * 60_000;
/** How far back deposits are compared. */
const depositWindowMs = 7 * 86_400_000;
const findingsShownMax = 20;

type Totals = { byStatus: Record<string, { count: number; amount: string }>; ids?: Record<string, string[]> };

/**
 * The deposits of the last week (but the last five minutes), as channel-user
 * (what the customer sees) and core-payment (what the ledger did) each count
 * them: every deposit the channel shows COMPLETED was applied by the core,
 * and nothing else was; FAILED agree; none PENDING past five minutes. On a
 * difference both are asked for the ids, and the ones that differ are named.
 */
async function depositChecks(read: ReportReader, now: number): Promise<Check[]> {
  const query = `from=${uuidv7Floor(now - depositWindowMs)}&to=${uuidv7Floor(now - depositSettleMs)}`;
  const ask = (detail: boolean) => {
    const path = `/internal/v1/deposit-totals?${query}${detail ? '&detail=true' : ''}`;
    return Promise.all([read('channel-user', path), read('core-payment', path)]) as Promise<[Totals, Totals]>;
  };
  let [channel, core] = await ask(false);
  const total = (totals: Totals, status: string) => totals.byStatus[status] ?? { count: 0, amount: '0' };
  const same = (status: string) =>
    total(channel, status).count === total(core, status).count &&
    total(channel, status).amount === total(core, status).amount;
  const pending = total(channel, 'PENDING');
  const agree = same('COMPLETED') && same('FAILED') && pending.count === 0;
  let findings: string[] = [];
  if (!agree) {
    [channel, core] = await ask(true);
    findings = differingDeposits(channel, core);
  }
  const describe = (status: string) =>
    `channel ${total(channel, status).count} (₩${total(channel, status).amount}), core ${total(core, status).count} (₩${total(core, status).amount})`;
  return [
    {
      label: 'COMPLETED in the channel = applied by the core',
      ok: same('COMPLETED'),
      summary: describe('COMPLETED'),
      findings: same('COMPLETED') ? [] : findings.filter((line) => !line.startsWith('PENDING')),
    },
    {
      label: 'FAILED in the channel = refused by the core',
      ok: same('FAILED'),
      summary: describe('FAILED'),
      findings: [],
    },
    {
      label: 'none PENDING past 5 minutes (they are re-sent)',
      ok: pending.count === 0,
      summary: `${pending.count} pending`,
      findings: findings.filter((line) => line.startsWith('PENDING')),
    },
  ];
}

function differingDeposits(channel: Totals, core: Totals): string[] {
  const statusIn = (totals: Totals) => {
    const byId = new Map<string, string>();
    for (const [status, ids] of Object.entries(totals.ids ?? {})) for (const id of ids) byId.set(id, status);
    return byId;
  };
  const channelStatus = statusIn(channel);
  const coreStatus = statusIn(core);
  const findings: string[] = [];
  for (const [id, status] of channelStatus) {
    const settled = coreStatus.get(id);
    if (status === 'PENDING')
      findings.push(
        `PENDING ${id}: the core ${settled === undefined ? 'has no record of it' : `settled it ${settled}`}`,
      );
    else if (settled !== status) findings.push(`${id}: channel ${status}, core ${settled ?? 'no record'}`);
  }
  for (const [id, status] of coreStatus) {
    if (!channelStatus.has(id)) findings.push(`${id}: core ${status}, the channel has no such deposit`);
  }
  return findings.slice(0, findingsShownMax);
}
