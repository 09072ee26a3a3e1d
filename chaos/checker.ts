// After the faults have healed: what the client was told (record.ts) held
// against what the bank holds. Each invariant is a named check with what it
// found; the run fails when any breaks. The bank is read through its public
// API (balances, statements, point history, coupons) and the operator's
// reports (`nuri reconcile`, the core's coupon records, the DLQs).
import { setTimeout as sleep } from 'node:timers/promises';
import { type Answer, type Attempt, BankClient, isDefinite } from '../e2e/workload.ts';
import { ConfigSchema as CouponConfigSchema } from '../services/coupon/src/config.ts';
import type { FaultEvent } from './faults.ts';
import type { CampaignRecord, Operation } from './record.ts';
import { coreZoneKinds } from './schedule.ts';

export interface Invariant {
  name: string;
  /** What it promises, in words. */
  statement: string;
  ok: boolean;
  /** What it found, in one line. */
  summary: string;
  /** The breaks (at most `findingsMax`), or notes when it holds. */
  findings: string[];
}

const findingsMax = 30;
const readConcurrency = 16;

/** The account lines and wallet lines of each customer, read once after the run. */
export interface BankState {
  accounts: Map<string, { balance: number; lines: StatementLine[]; owner: number }>;
  wallets: Map<number, { balance: number; lines: PointLine[] }>;
  coupons: Map<number, Array<{ couponId: string; campaignId: string }>>;
  campaigns: Map<
    string,
    { quantity: number; issued: number; remaining: number; recorded: number | undefined }
  >;
  /** What could not be read through the API after the heal (each a finding). */
  unreadable: string[];
}

export interface StatementLine {
  id: string;
  type: string;
  amount: number;
  balanceAfter: number;
  reference: string;
}

export interface PointLine {
  type: 'CHARGE' | 'USE' | 'REFUND';
  amount: number;
  paymentId?: string;
}

/** A careful reader: the checker's reads retried until definite, on a client of their own (not in the run's series). */
export class Reader {
  readonly client: BankClient;
  constructor(gatewayUrl: string) {
    this.client = new BankClient(gatewayUrl);
  }

  async get(path: string, token: string, timeoutMs = 60_000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.client.send('GET', path, { token }).catch(() => undefined);
      if (answer !== undefined && isDefinite(answer)) return answer;
      if (Date.now() > deadline) throw new Error(`GET ${path}: no definite answer within ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  /** Every item of a paginated list, oldest page last. */
  async all<T>(path: string, token: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const page = await this.get(
        `${path}${separator}limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
        token,
      );
      if (page.status !== 200) throw new Error(`GET ${path} answered ${page.status}`);
      items.push(...(page.body.items as T[]));
      cursor = page.body.nextCursor ?? null;
    } while (cursor !== null);
    return items;
  }
}

/** Runs `work` over `items`, `readConcurrency` at a time. */
export async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(readConcurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next]!;
        next += 1;
        await work(item);
      }
    }),
  );
}

const sum = (values: Iterable<number>) => {
  let total = 0;
  for (const value of values) total += value;
  return total;
};

function invariant(name: string, statement: string, findings: string[], summary: string): Invariant {
  return {
    name,
    statement,
    ok: findings.length === 0,
    summary,
    findings: findings
      .slice(0, findingsMax)
      .concat(findings.length > findingsMax ? [`… and ${findings.length - findingsMax} more`] : []),
  };
}

const answered = (operations: readonly Operation[], kind: Operation['kind'], status: number) =>
  operations.filter((operation) => operation.kind === kind && operation.status === status);

// --- the invariants -------------------------------------------------------------

export function checkDefinite(operations: readonly Operation[]): Invariant {
  const open = operations.filter((operation) => operation.outcome !== 'definite');
  return invariant(
    'every-operation-answered',
    'the careful client got a definite answer (2xx or 4xx) to every operation, retrying with its key',
    open.map(
      (operation) =>
        `#${operation.id} ${operation.route} (${operation.kind}) had no definite answer after ${operation.attempts} attempts`,
    ),
    `${operations.length - open.length} of ${operations.length} operations answered`,
  );
}

export function checkReadable(state: BankState): Invariant {
  return invariant(
    'bank-readable',
    'after the faults healed, every account, statement, wallet, coupon list and campaign could be read through the gateway',
    state.unreadable,
    `${state.accounts.size} accounts, ${state.wallets.size} wallets, ${state.campaigns.size} campaigns read`,
  );
}

/** Every 202 deposit COMPLETED and on its account's statement exactly once; no deposit line the client was not told of. */
export function checkDeposits(operations: readonly Operation[], state: BankState): Invariant {
  const accepted = answered(operations, 'deposit', 202);
  const findings: string[] = [];
  for (const deposit of accepted) {
    if (deposit.settled?.status !== 'COMPLETED') {
      findings.push(`deposit ${deposit.ref} (202) is ${deposit.settled?.status ?? 'unread'}`);
    }
  }
  const acceptedIds = new Set(accepted.map((deposit) => deposit.ref!));
  findings.push(...statementFindings(state, 'DEPOSIT', acceptedIds, (line) => `deposit ${line.reference}`));
  return invariant(
    'deposits-exactly-once',
    'every deposit answered 202 is COMPLETED and on its statement exactly once; no other deposit line exists',
    findings,
    `${accepted.length} deposits answered 202, ${accepted.filter((deposit) => deposit.settled?.status === 'COMPLETED').length} COMPLETED`,
  );
}

/** Every withdrawal answered 200 debited exactly once; none answered otherwise (409, or 503 before it) debited. */
export function checkWithdrawals(operations: readonly Operation[], state: BankState): Invariant {
  const debited = answered(operations, 'withdrawal', 200);
  const refused = operations.filter(
    (operation) => operation.kind === 'withdrawal' && operation.status === 409,
  );
  const findings = statementFindings(
    state,
    'WITHDRAWAL',
    new Set(debited.map((withdrawal) => withdrawal.ref!)),
    (line) => `withdrawal ${line.reference}`,
  );
  const retriedAfter5xx = operations.filter(
    (operation) => operation.kind === 'withdrawal' && operation.attempts > 1,
  ).length;
  return invariant(
    'withdrawals-exactly-once',
    'every withdrawal answered 200 is debited exactly once; none answered 409 (or 503 before its final answer) is debited',
    findings,
    `${debited.length} answered 200, ${refused.length} answered 409; ${retriedAfter5xx} needed more than one attempt`,
  );
}

export function checkTransfers(operations: readonly Operation[], state: BankState): Invariant {
  const moved = answered(operations, 'transfer', 200);
  const ids = new Set(moved.map((transfer) => transfer.ref!));
  const findings = [
    ...statementFindings(state, 'TRANSFER_OUT', ids, (line) => `transfer ${line.reference} (out)`),
    ...statementFindings(state, 'TRANSFER_IN', ids, (line) => `transfer ${line.reference} (in)`),
  ];
  for (const transfer of moved) {
    const out = state.accounts
      .get(transfer.accountNo!)
      ?.lines.filter((line) => line.reference === transfer.ref);
    const into = state.accounts
      .get(transfer.toAccountNo!)
      ?.lines.filter((line) => line.reference === transfer.ref);
    if (out?.length !== 1 || out[0]!.type !== 'TRANSFER_OUT')
      findings.push(`transfer ${transfer.ref}: not once on the sender's statement`);
    if (into?.length !== 1 || into[0]!.type !== 'TRANSFER_IN')
      findings.push(`transfer ${transfer.ref}: not once on the recipient's statement`);
  }
  return invariant(
    'transfers-exactly-once',
    'every transfer answered 200 moved both sides exactly once; no other transfer line exists',
    findings,
    `${moved.length} transfers answered 200, ${operations.filter((operation) => operation.kind === 'transfer' && operation.status === 409).length} refused (409)`,
  );
}

/**
 * The lines of `type` across every account are exactly `expected`, each once,
 * and on the account the record says.
 */
function statementFindings(
  state: BankState,
  type: string,
  expected: ReadonlySet<string>,
  describe: (line: StatementLine) => string,
): string[] {
  const findings: string[] = [];
  const seen = new Map<string, number>();
  for (const [accountNo, account] of state.accounts) {
    for (const line of account.lines) {
      if (line.type !== type) continue;
      seen.set(line.reference, (seen.get(line.reference) ?? 0) + 1);
      if (!expected.has(line.reference)) {
        findings.push(`${describe(line)} on ${accountNo} was never answered with success to the client`);
      }
    }
  }
  for (const reference of expected) {
    const count = seen.get(reference) ?? 0;
    if (count !== 1) findings.push(`${type} ${reference} is on the statements ${count} times`);
  }
  return findings;
}

/** For every account: balance = Σ accepted deposits − Σ withdrawals answered 200 − Σ cash of COMPLETED payments ± transfers. */
export function checkMoney(operations: readonly Operation[], state: BankState): Invariant {
  const expected = new Map<string, number>();
  const add = (accountNo: string | undefined, amount: number) => {
    if (accountNo !== undefined) expected.set(accountNo, (expected.get(accountNo) ?? 0) + amount);
  };
  for (const operation of operations) {
    if (operation.kind === 'deposit' && operation.status === 202) add(operation.accountNo, operation.amount!);
    if (operation.kind === 'withdrawal' && operation.status === 200)
      add(operation.accountNo, -operation.amount!);
    if (operation.kind === 'transfer' && operation.status === 200) {
      add(operation.accountNo, -operation.amount!);
      add(operation.toAccountNo, operation.amount!);
    }
    if (
      operation.kind === 'payment' &&
      operation.status === 202 &&
      operation.settled?.status === 'COMPLETED'
    ) {
      add(operation.accountNo, -operation.cashAmount!);
    }
  }
  // Payments still PENDING after the heal: their cash may be debited while the client cannot count it yet.
  const pendingCash = new Map<string, number>();
  for (const operation of operations) {
    if (operation.kind !== 'payment' || operation.status !== 202) continue;
    if (operation.settled?.status === 'COMPLETED' || operation.settled?.status === 'FAILED') continue;
    pendingCash.set(
      operation.accountNo!,
      (pendingCash.get(operation.accountNo!) ?? 0) + operation.cashAmount!,
    );
  }
  const findings: string[] = [];
  for (const [accountNo, account] of state.accounts) {
    const want = expected.get(accountNo) ?? 0;
    if (account.balance !== want) {
      const pending = pendingCash.get(accountNo);
      findings.push(
        `${accountNo}: balance ₩${account.balance}, the client's record says ₩${want}` +
          (pending === undefined ? '' : ` (payments still PENDING on it carry ₩${pending} of cash)`),
      );
    }
    const signed = sum(
      account.lines.map((line) =>
        ['DEPOSIT', 'TRANSFER_IN'].includes(line.type) ? line.amount : -line.amount,
      ),
    );
    if (signed !== account.balance) {
      findings.push(`${accountNo}: its statement adds up to ₩${signed}, its balance is ₩${account.balance}`);
    }
    if (account.balance < 0) findings.push(`${accountNo}: balance below zero (₩${account.balance})`);
  }
  const total = sum([...state.accounts.values()].map((account) => account.balance));
  return invariant(
    'money-conserved',
    'for every account: balance = Σ accepted deposits − Σ withdrawals answered 200 − Σ cash of COMPLETED payments ± transfers (the client’s record), = Σ its statement',
    findings,
    `${state.accounts.size} accounts, ₩${total.toLocaleString('en-US')} in all`,
  );
}

/**
 * docs/api.md: statements are newest first and each line shows the balance right after it, so
 * the first line shows the balance (lines go by the order each movement took on its account,
 * finding 8; they used to go by ids made before their commit).
 */
export function checkStatementOrder(state: BankState): Invariant {
  const findings: string[] = [];
  for (const [accountNo, account] of state.accounts) {
    const newest = account.lines[0];
    if (newest !== undefined && newest.balanceAfter !== account.balance) {
      findings.push(
        `${accountNo}: the first (newest) line says ₩${newest.balanceAfter} after ${newest.type} ${newest.reference}, the balance is ₩${account.balance}`,
      );
    }
  }
  return {
    ...invariant(
      'statement-newest-first',
      'the first line of every statement (newest first) shows the account’s balance after it',
      findings,
      `${state.accounts.size - findings.length} of ${state.accounts.size} statements`,
    ),
  };
}

/** Every 202 payment COMPLETED or FAILED, within the saga's timeout of the last fault it lived through. */
export function checkPaymentsTerminal(
  operations: readonly Operation[],
  events: readonly FaultEvent[],
  timeoutMs: number,
): Invariant {
  const payments = answered(operations, 'payment', 202);
  const findings: string[] = [];
  let slowestMs = 0;
  for (const payment of payments) {
    const status = payment.settled?.status;
    if (status !== 'COMPLETED' && status !== 'FAILED') {
      findings.push(`payment ${payment.ref} is ${status ?? 'unread'}`);
      continue;
    }
    const settledAt =
      payment.settled?.at === undefined ? payment.settled!.readAt : Date.parse(payment.settled.at);
    // The clock starts when it was accepted, or when the last fault it lived through healed.
    const healed = events
      .filter(
        (event) => event.startedAt <= settledAt && (event.backAt ?? event.healedAt ?? 0) >= payment.endedAt!,
      )
      .map((event) => event.backAt ?? event.healedAt ?? event.startedAt);
    const from = Math.max(payment.endedAt!, ...healed);
    const tookMs = settledAt - from;
    slowestMs = Math.max(slowestMs, tookMs);
    if (tookMs > timeoutMs) {
      findings.push(
        `payment ${payment.ref} became ${status} ${tookMs} ms after it could have (timeout ${timeoutMs} ms)`,
      );
    }
  }
  return invariant(
    'payments-terminal',
    `every payment answered 202 is COMPLETED or FAILED within its timeout (${timeoutMs / 1_000} s) of being accepted or of the fault it lived through healing`,
    findings,
    `${payments.length} payments: ${payments.filter((payment) => payment.settled?.status === 'COMPLETED').length} COMPLETED, ${payments.filter((payment) => payment.settled?.status === 'FAILED').length} FAILED; slowest ${Math.round(slowestMs)} ms after it could settle`,
  );
}

/** Points per wallet; each payment's points used once and refunded once exactly when it FAILED; no payment both debited cash and refunded. */
export function checkPoints(operations: readonly Operation[], state: BankState): Invariant {
  const findings: string[] = [];
  const payments = answered(operations, 'payment', 202);
  const cashLines = new Map<string, number>();
  for (const account of state.accounts.values()) {
    for (const line of account.lines) {
      if (line.type === 'PAYMENT') cashLines.set(line.reference, (cashLines.get(line.reference) ?? 0) + 1);
    }
  }
  for (const [customer, wallet] of state.wallets) {
    const mine = (kind: Operation['kind'], status: number) =>
      answered(operations, kind, status).filter((operation) => operation.customer === customer);
    const charges = sum(mine('point-charge', 200).map((charge) => charge.amount!));
    const myPayments = mine('payment', 202);
    const used = sum(myPayments.map((payment) => payment.pointAmount!));
    const refunded = sum(
      myPayments
        .filter((payment) => payment.settled?.status === 'FAILED')
        .map((payment) => payment.pointAmount!),
    );
    if (wallet.balance !== charges - used + refunded) {
      findings.push(
        `customer ${customer}: ${wallet.balance} points, the record says ${charges} charged − ${used} used + ${refunded} refunded = ${charges - used + refunded}`,
      );
    }
    const linesOf = (type: PointLine['type'], paymentId: string) =>
      wallet.lines.filter((line) => line.type === type && line.paymentId === paymentId).length;
    for (const payment of myPayments) {
      const uses = linesOf('USE', payment.ref!);
      const refunds = linesOf('REFUND', payment.ref!);
      const wantUses = payment.pointAmount! > 0 ? 1 : 0;
      const wantRefunds = payment.settled?.status === 'FAILED' && payment.pointAmount! > 0 ? 1 : 0;
      if (uses !== wantUses) findings.push(`payment ${payment.ref}: ${uses} USE lines, expected ${wantUses}`);
      if (refunds !== wantRefunds)
        findings.push(`payment ${payment.ref}: ${refunds} REFUND lines, expected ${wantRefunds}`);
    }
    const charged = wallet.lines.filter((line) => line.type === 'CHARGE').length;
    if (charged !== mine('point-charge', 200).length) {
      findings.push(
        `customer ${customer}: ${charged} CHARGE lines for ${mine('point-charge', 200).length} charges answered 200`,
      );
    }
  }
  for (const payment of payments) {
    const cash = cashLines.get(payment.ref!) ?? 0;
    const completed = payment.settled?.status === 'COMPLETED';
    const wantCash = completed && payment.cashAmount! > 0 ? 1 : 0;
    if (cash !== wantCash) {
      findings.push(
        `payment ${payment.ref} (${payment.settled?.status}): ${cash} cash debits, expected ${wantCash}`,
      );
    }
    const refunded = [...state.wallets.values()].some((wallet) =>
      wallet.lines.some((line) => line.type === 'REFUND' && line.paymentId === payment.ref),
    );
    if (cash > 0 && refunded)
      findings.push(`payment ${payment.ref} both debited cash and refunded its points`);
  }
  return invariant(
    'points-conserved',
    'per wallet: points = Σ charges answered 200 − Σ points of payments + Σ refunds of FAILED ones; each payment used once, refunded once exactly when FAILED; none both debited cash and refunded points',
    findings,
    `${state.wallets.size} wallets, ${sum([...state.wallets.values()].map((wallet) => wallet.balance))} points in all`,
  );
}

/**
 * Coupons: every 201 recorded by the core; issued = recorded ≤ quantity; issued = the coupons
 * the users hold; every 201 is the coupon its user holds; no user holds two of a campaign.
 */
export function checkCoupons(
  operations: readonly Operation[],
  campaigns: readonly CampaignRecord[],
  state: BankState,
): Invariant {
  const findings: string[] = [];
  let created = 0;
  for (const campaign of campaigns) {
    const seen = state.campaigns.get(campaign.campaignId);
    if (seen === undefined) {
      findings.push(`campaign ${campaign.campaignId} could not be read`);
      continue;
    }
    const held = heldOf(state, campaign.campaignId);
    const holdings = sum([...held.values()].map((coupons) => coupons.length));
    if (seen.issued !== seen.recorded) {
      findings.push(
        `campaign ${campaign.campaignId}: issued ${seen.issued}, the core recorded ${seen.recorded ?? 'unknown'}`,
      );
    }
    if (seen.issued > campaign.quantity) {
      findings.push(`campaign ${campaign.campaignId}: issued ${seen.issued} of ${campaign.quantity}`);
    }
    if (seen.issued !== holdings) {
      findings.push(`campaign ${campaign.campaignId}: issued ${seen.issued}, the customers hold ${holdings}`);
    }
    for (const ask of operations) {
      if (ask.kind !== 'coupon-issue' || ask.campaignId !== campaign.campaignId || ask.status !== 201)
        continue;
      created += 1;
      const mine = held.get(ask.customer) ?? [];
      if (!mine.includes(ask.ref!)) {
        findings.push(
          `customer ${ask.customer} was given ${ask.ref} (201) but holds ${mine.join(', ') || 'nothing'}`,
        );
      }
    }
    for (const [customer, coupons] of held) {
      if (coupons.length > 1)
        findings.push(`customer ${customer} holds ${coupons.length} coupons of ${campaign.campaignId}`);
    }
  }
  const issued = sum([...state.campaigns.values()].map((campaign) => campaign.issued));
  return invariant(
    'coupons-recorded',
    'every coupon answered 201 is recorded by the core and held by its user; issued = recorded ≤ quantity; issued = the coupons held; no user holds two of a campaign',
    findings,
    `${campaigns.length} campaigns of ${campaigns.map((campaign) => campaign.quantity).join('/')} coupons; ${created} answered 201, ${issued} issued`,
  );
}

/** docs/api.md: 409 ALREADY_ISSUED names "the one held" — the coupon the user ends up holding. */
export function checkCouponAnswers(operations: readonly Operation[], state: BankState): Invariant {
  const findings: string[] = [];
  let named = 0;
  for (const ask of operations) {
    if (ask.kind !== 'coupon-issue' || ask.code !== 'ALREADY_ISSUED' || ask.ref === undefined) continue;
    named += 1;
    const mine = heldOf(state, ask.campaignId!).get(ask.customer) ?? [];
    if (!mine.includes(ask.ref)) {
      findings.push(
        `customer ${ask.customer} was told 409 ALREADY_ISSUED ${ask.ref} at ${new Date(ask.endedAt ?? ask.startedAt).toISOString()}, but holds ${mine.join(', ') || 'nothing'} of ${ask.campaignId}`,
      );
    }
  }
  return {
    ...invariant(
      'coupon-answers-consistent',
      'every 409 ALREADY_ISSUED named the coupon its user ends up holding',
      findings,
      `${named} answers named a coupon, ${findings.length} one the user does not hold`,
    ),
  };
}

/** Who holds which coupons of a campaign (GET /api/v1/coupons of every customer). */
function heldOf(state: BankState, campaignId: string): Map<number, string[]> {
  const held = new Map<number, string[]>();
  for (const [customer, coupons] of state.coupons) {
    const mine = coupons
      .filter((coupon) => coupon.campaignId === campaignId)
      .map((coupon) => coupon.couponId);
    if (mine.length > 0) held.set(customer, mine);
  }
  return held;
}

/** Routes the channel zone serves on its own (docs: Zone isolation). */
export const channelOnlyRoutes: ReadonlySet<string> = new Set([
  'POST /api/v1/auth/login',
  'POST /api/v1/accounts/:accountNo/deposits',
  'POST /api/v1/coupon-campaigns/:id/issue',
  'POST /api/v1/points/charge',
]);

/** The windows in which the core zone was cut off, slowed or missing an instance. */
export function coreZoneWindows(events: readonly FaultEvent[]): FaultEvent[] {
  return events.filter(
    (event) =>
      coreZoneKinds.has(event.kind) ||
      ((event.kind === 'kill' || event.kind === 'pause') &&
        (event.service === 'core-user' || event.service === 'core-payment')),
  );
}

/** A fault's 5xx and dead letters count as its own this long after what it broke was back. */
export const faultGraceMs = 10_000;
/**
 * After Redis lost its state, coupon answers 503 until each campaign is
 * rebuilt, and a rebuild first waits NURI_COUPON_REBUILD_SETTLE_MS for every
 * send in flight to settle (services/coupon/src/domain/rebuild.ts): that wait
 * is part of the fault.
 */
const couponRebuildSettleMs = Number(
  (CouponConfigSchema.properties.NURI_COUPON_REBUILD_SETTLE_MS as unknown as { default: number }).default,
);

/** When a fault's effects may last until: what it broke back, plus the grace (and a coupon rebuild after Redis lost its state). */
export function effectEndOf(event: FaultEvent): number {
  const back = event.backAt ?? event.healedAt ?? event.startedAt;
  const rebuild = event.kind === 'redis' && event.variant !== 'persisted' ? couponRebuildSettleMs : 0;
  return back + rebuild + faultGraceMs;
}

export interface WindowAvailability {
  fault: number;
  kind: string;
  attempts: number;
  good: number;
  ratio: number;
}

/** During core-zone faults, the channel-only routes answer without 5xx (and answer at all). */
export function checkAvailability(
  attempts: readonly Attempt[],
  events: readonly FaultEvent[],
  requiredRatio: number,
): { invariant: Invariant; windows: WindowAvailability[] } {
  const core = coreZoneWindows(events);
  // A window is the core zone's alone: attempts while another fault's effects last are that fault's.
  const others = events.filter((event) => !core.includes(event));
  const elsewhere = (at: number) => others.some((event) => at >= event.startedAt && at <= effectEndOf(event));
  const windows = core.map((event) => {
    // A killed instance is missing until it is back; the other faults end when healed.
    const end = (event.kind === 'kill' ? event.backAt : event.healedAt) ?? event.healedAt ?? event.startedAt;
    const inside = attempts.filter(
      (attempt) =>
        channelOnlyRoutes.has(attempt.route) &&
        attempt.at >= event.startedAt &&
        attempt.at <= end &&
        !elsewhere(attempt.at),
    );
    const good = inside.filter((attempt) => attempt.status !== 'network' && attempt.status < 500).length;
    return {
      fault: event.id,
      kind: `${event.kind}${event.target ? ` ${event.target}` : ''}`,
      attempts: inside.length,
      good,
      ratio: inside.length === 0 ? 1 : good / inside.length,
    };
  });
  const findings = windows
    .filter((window) => window.ratio < requiredRatio)
    .map(
      (window) =>
        `fault #${window.fault} ${window.kind}: ${window.good} of ${window.attempts} (${(window.ratio * 100).toFixed(2)} %) answered without 5xx`,
    );
  const total = sum(windows.map((window) => window.attempts));
  const good = sum(windows.map((window) => window.good));
  return {
    windows,
    invariant: invariant(
      'channel-available-during-core-faults',
      `during every core-zone fault, login, deposit acceptance, coupon issue and point charge answer ≥ ${requiredRatio * 100} % without 5xx (no answer counts against)`,
      findings,
      windows.length === 0
        ? 'no core-zone fault in this run'
        : `${good} of ${total} attempts (${((good / Math.max(1, total)) * 100).toFixed(2)} %) in ${windows.length} windows`,
    ),
  };
}

export function checkServerErrorShape(
  attempts: readonly Attempt[],
  bad: ReadonlyArray<{ at: number; route: string; status: number; reason: string }>,
): Invariant {
  const errors = attempts.filter((attempt) => attempt.status !== 'network' && attempt.status >= 500);
  const byCode = new Map<string, number>();
  for (const attempt of errors) {
    const key = `${attempt.status} ${attempt.code ?? '(no code)'}`;
    byCode.set(key, (byCode.get(key) ?? 0) + 1);
  }
  return invariant(
    'server-errors-are-problems',
    'every 5xx is application/problem+json with a code and nothing internal in it',
    bad.map(
      (error) => `${new Date(error.at).toISOString()} ${error.route} → ${error.status}: ${error.reason}`,
    ),
    errors.length === 0
      ? 'no 5xx'
      : `${errors.length} 5xx: ${[...byCode].map(([key, count]) => `${key} ×${count}`).join(', ')}`,
  );
}

/** Every 5xx came while a fault was on, or within the grace of what it broke being back. */
export function checkServerErrorsExplained(
  attempts: readonly Attempt[],
  events: readonly FaultEvent[],
): Invariant {
  const errors = attempts.filter((attempt) => attempt.status !== 'network' && attempt.status >= 500);
  const unexplained = errors.filter(
    (attempt) =>
      !events.some((event) => attempt.at + attempt.ms >= event.startedAt && attempt.at <= effectEndOf(event)),
  );
  const byRoute = new Map<string, number>();
  for (const attempt of unexplained) {
    const key = `${attempt.route} → ${attempt.status} ${attempt.code ?? ''}`;
    byRoute.set(key, (byRoute.get(key) ?? 0) + 1);
  }
  return invariant(
    'server-errors-during-faults',
    `every 5xx came during a fault or within ${faultGraceMs / 1_000} s of what it broke being back (after Redis lost its state, also the coupon rebuild's ${couponRebuildSettleMs / 1_000} s settling)`,
    [...byRoute].map(([key, count]) => `${key} ×${count} while no fault was on`),
    `${errors.length - unexplained.length} of ${errors.length} 5xx during faults`,
  );
}

export interface DeadLetterSummary {
  ref: string;
  topic: string;
  eventType: string | undefined;
  failedAt: string;
  group: string;
  error: string;
  /** The fault it failed under, if any. */
  fault: number | undefined;
}

export function checkDeadLetters(letters: readonly DeadLetterSummary[]): Invariant {
  const unexplained = letters.filter((letter) => letter.fault === undefined);
  return invariant(
    'dead-letters-explained',
    'nothing in a DLQ that a fault does not explain (each letter listed with the fault it failed under)',
    unexplained.map(
      (letter) =>
        `${letter.ref} ${letter.eventType ?? ''} failed ${letter.failedAt} in ${letter.group}: ${letter.error.slice(0, 160)}`,
    ),
    letters.length === 0
      ? 'every DLQ empty'
      : `${letters.length} dead letters, ${letters.length - unexplained.length} during a fault`,
  );
}

export interface ConsumerLag {
  reachable: boolean;
  items: Array<{ group: string; topic: string; lag: number; partitions: number }>;
  error?: string;
}

/** Once healed and settled, no consumer group is left behind on any topic (a stuck consumer strands events). */
export function checkConsumersCaughtUp(lag: ConsumerLag): Invariant {
  const behind = lag.items.filter((item) => item.lag > 0);
  const findings = lag.reachable
    ? behind.map((item) => `${item.group} is ${item.lag} behind on ${item.topic}`)
    : [`the lag could not be read: ${lag.error ?? 'the broker did not answer'}`];
  return invariant(
    'consumers-caught-up',
    'after the heal, every consumer group has consumed every topic it reads to the end (GET /api/v1/admin/kafka/lag)',
    findings,
    `${lag.items.length} group × topic pairs, ${behind.length} behind`,
  );
}

export function checkReconciliation(
  problems: string[] | undefined,
  waitedMs: number,
  error?: string,
): Invariant {
  const findings = error !== undefined ? [error] : (problems ?? []);
  return invariant(
    'reconcile-clean',
    '`nuri reconcile` exits 0: ledger sums equal balances, the money supply adds up, channel and core agree on deposits, coupons issued = recorded',
    findings,
    findings.length === 0 ? `clean (after ${Math.round(waitedMs / 1_000)} s)` : 'MISMATCH',
  );
}

export function checkExits(
  instances: ReadonlyArray<{ name: string; restarts: number; state: string }>,
  events: readonly FaultEvent[],
): Invariant {
  const findings: string[] = [];
  for (const instance of instances) {
    const killed = events.filter((event) => event.kind === 'kill' && event.target === instance.name).length;
    if (instance.restarts !== killed) {
      findings.push(`${instance.name} exited ${instance.restarts} times; the run killed it ${killed} times`);
    }
    if (instance.state !== 'ready') findings.push(`${instance.name} is ${instance.state} at the end`);
  }
  return invariant(
    'no-unexpected-exits',
    'no instance exited but those the run killed, and every instance is ready at the end',
    findings,
    `${instances.length} instances, ${sum(instances.map((instance) => instance.restarts))} restarts`,
  );
}

export function eventWindowOf(events: readonly FaultEvent[], at: number): FaultEvent | undefined {
  return events.find((event) => at >= event.startedAt && at <= effectEndOf(event));
}
