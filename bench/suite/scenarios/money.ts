// Money in and out of accounts through the gateway: withdrawals (synchronous
// REST to the core) over many accounts and on one hot account, and deposits
// (accepted into an outbox, applied by the core from Kafka).

import { uuidv7Floor } from '@nuri/platform/ids';
import { awaitTerminal, balances, type Customer } from '../api.ts';
import { resolveInDoubt } from '../load.ts';
import type { CollectedResponse, LoadResult, RequestTemplate } from '../load-types.ts';
import { type CpuBreakdown, cpuMsPerOperation } from '../machine.ts';
import { progress } from '../progress.ts';
import type { Invariant } from '../report.ts';
import {
  awaitNonePending,
  count,
  describeStatuses,
  getInternal,
  invariant,
  type RunOutcome,
  type Scenario,
  type SuiteContext,
} from '../scenario.ts';

const drainTimeoutMs = 180_000;

function targetsOf(customers: readonly Customer[]) {
  return customers.flatMap((customer) =>
    customer.accounts.map((accountNo) => ({ accountNo, token: customer.token })),
  );
}

function moveTemplates(
  targets: ReadonlyArray<{ accountNo: string; token: string }>,
  kind: 'withdrawals' | 'deposits',
): RequestTemplate[] {
  return targets.map(({ accountNo, token }) => ({
    method: 'POST',
    path: `/api/v1/accounts/${accountNo}/${kind}`,
    headers: { authorization: `Bearer ${token}` },
    body: '{"amount":1}',
    tag: accountNo,
  }));
}

/** Per account, how many answers had `status`. */
function tally(answers: readonly CollectedResponse[], status: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const answer of answers) {
    if (answer.status !== status) continue;
    counts.set(answer.tag!, (counts.get(answer.tag!) ?? 0) + 1);
  }
  return counts;
}

export function statusesOf(answers: readonly CollectedResponse[]): Record<string, number> {
  const statuses: Record<string, number> = {};
  for (const answer of answers) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
  return statuses;
}

export function clientErrors(statuses: Record<string, number>): number {
  return Object.entries(statuses)
    .filter(([status]) => status.startsWith('4'))
    .reduce((sum, [, n]) => sum + n, 0);
}

/** A withdrawal load: where it goes, its requests (1 won each, tagged with the account), and how balances are read. */
export interface WithdrawalLoad {
  url: string;
  templates: RequestTemplate[];
  accounts: readonly string[];
  readBalances: () => Promise<Map<string, number>>;
  /** Short, unique per scenario: part of the idempotency keys. */
  keyLabel: string;
}

/**
 * The load of withdrawals, then the ledger's side: every account's balance
 * fell by exactly its successful withdrawals (1 won each), counting the
 * in-doubt ones once settled by re-sending them.
 */
export async function measureWithdrawals(
  context: SuiteContext,
  withdrawals: WithdrawalLoad,
  label: string,
  run: number,
): Promise<RunOutcome> {
  const before = await withdrawals.readBalances();
  const { load, cpu } = await context.load(
    {
      url: withdrawals.url,
      mode: 'closed',
      connections: context.connections(50),
      durationS: context.durationS(10),
      templates: withdrawals.templates,
      idempotencyKeyPrefix: `${context.runKey}-${withdrawals.keyLabel}${run}`,
      collectBodies: true,
      timeoutS: 10,
    },
    `${label} run ${run}`,
  );
  const settled = await resolveInDoubt(withdrawals.url, load.inDoubt);
  const answers = [...load.collected, ...settled];
  const statuses = statusesOf(answers);
  const after = await withdrawals.readBalances();
  const succeeded = tally(answers, 200);
  const mismatches = withdrawals.accounts.filter((accountNo) => {
    const debited = before.get(accountNo)! - after.get(accountNo)!;
    return debited !== (succeeded.get(accountNo) ?? 0);
  });
  const first = mismatches[0];
  const negative = withdrawals.accounts.filter((accountNo) => after.get(accountNo)! < 0);
  const withdrawn = count(load.statuses, 200);
  return {
    figure: withdrawn / load.durationS,
    figures: {
      inDoubt: load.inDoubt.length,
      non2xx: load.answered - withdrawn,
    },
    load,
    // Compare runs with and without --tracing for what tracing costs.
    cpu,
    operations: withdrawn,
    statuses,
    invariants: [
      invariant(
        'balance = start − Σ successful withdrawals, every account',
        mismatches.length === 0,
        first === undefined
          ? `${withdrawals.accounts.length} accounts, ${count(statuses, 200)} withdrawals of 1 won (${settled.length} settled after the load)`
          : `${mismatches.length} accounts differ, e.g. ${first}: ${before.get(first)} → ${after.get(first)} with ${succeeded.get(first) ?? 0} successes`,
      ),
      invariant('no balance below zero', negative.length === 0, `${negative.length} negative`),
      invariant(
        'no 4xx: every account holds enough',
        clientErrors(statuses) === 0,
        `answers ${describeStatuses(statuses)}`,
      ),
    ],
  };
}

/** Withdrawals through the gateway over every account of `customers`, balances read through the API. */
function gatewayWithdrawals(context: SuiteContext, customers: Customer[], keyLabel: string): WithdrawalLoad {
  const targets = targetsOf(customers);
  return {
    url: context.system.gatewayUrl,
    templates: moveTemplates(targets, 'withdrawals'),
    accounts: targets.map(({ accountNo }) => accountNo),
    readBalances: () => balances(context.api, customers),
    keyLabel,
  };
}

export const withdraw: Scenario = {
  name: 'withdraw',
  title: 'Withdrawals, many accounts',
  description:
    'POST /api/v1/accounts/{no}/withdrawals of 1 won through the gateway (channel-user → core-payment REST), 50 connections round-robin over --users customers × 5 accounts, for --duration s (default 10), each request with its own Idempotency-Key. Requests left in flight when time is up are re-sent with their key until they answer, so every one has an outcome. Also reports CPU per withdrawal (every process but the load generator): run once with --tracing and once without for what tracing costs. Checks: every account fell by exactly its successful withdrawals; none below zero; no 4xx.',
  unit: 'withdrawals/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: {
    text: '≤ 0.35 ms CPU per withdrawal, every process',
    met: ({ named }) => (named.cpuMsPerOp?.median ?? Number.POSITIVE_INFINITY) <= 0.35,
  },
  comparisons: [
    { figure: 'figure', ceiling: 'jwks-gateway' },
    { figure: 'figure', ceiling: 'pgbench-n' },
  ],
  async prepare(context) {
    await context.bankCustomers();
  },
  async run(context, run) {
    return measureWithdrawals(
      context,
      gatewayWithdrawals(context, await context.bankCustomers(), 'w'),
      'withdraw',
      run,
    );
  },
};

export const withdrawHot: Scenario = {
  name: 'withdraw-hot',
  title: 'Withdrawals, one hot account',
  description:
    'The same withdrawals, every connection (50) on ONE account: the core serialises them on its row. Checks: balance = start − Σ successful withdrawals exactly (in-doubt requests settled by re-sending them with their key); never below zero; no 4xx.',
  unit: 'withdrawals/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: 'correct under contention' },
  comparisons: [{ figure: 'figure', ceiling: 'jwks-gateway' }],
  async prepare(context) {
    await context.hotCustomer();
  },
  async run(context, run) {
    return measureWithdrawals(
      context,
      gatewayWithdrawals(context, [await context.hotCustomer()], 'h'),
      'withdraw-hot',
      run,
    );
  },
};

/** The channel's outbox rows not yet relayed to Kafka (every channel-user instance shares the table). */
async function channelOutboxPending(context: SuiteContext): Promise<number> {
  const backlog = await getInternal<{ pending: number }>(
    context,
    context.system.channelUserUrl,
    '/internal/v1/ops/outbox',
  );
  return backlog.pending;
}

/** Deposits not yet settled by the core, of the ids this run could have made. */
function depositsPending(context: SuiteContext, range: string): () => Promise<number> {
  return async () =>
    (
      await getInternal<{ byStatus: Record<string, { count: number }> }>(
        context,
        context.system.channelUserUrl,
        `/internal/v1/deposit-totals?${range}`,
      )
    ).byStatus.PENDING?.count ?? 0;
}

/** One deposit load through the gateway and what it was answered, in-doubt requests settled. */
interface DepositLoad {
  load: LoadResult;
  cpuUntilNow: () => CpuBreakdown;
  answers: CollectedResponse[];
  statuses: Record<string, number>;
  accepted: Array<{ token: string; id: string }>;
  /** The ids this run's deposits can have: its load's time, a minute either side. */
  range: string;
}

async function loadDeposits(
  context: SuiteContext,
  targets: ReadonlyArray<{ accountNo: string; token: string }>,
  label: string,
  keyLabel: string,
): Promise<DepositLoad> {
  const tokenOf = new Map(targets.map(({ accountNo, token }) => [accountNo, token]));
  const { load, cpuUntilNow } = await context.load(
    {
      url: context.system.gatewayUrl,
      mode: 'closed',
      connections: context.connections(50),
      durationS: context.durationS(10),
      templates: moveTemplates(targets, 'deposits'),
      idempotencyKeyPrefix: `${context.runKey}-${keyLabel}`,
      collectBodies: true,
      timeoutS: 10,
    },
    label,
  );
  const settled = await resolveInDoubt(context.system.gatewayUrl, load.inDoubt);
  const answers = [...load.collected, ...settled];
  const accepted = answers
    .filter((answer) => answer.status === 202)
    .map((answer) => ({ token: tokenOf.get(answer.tag!)!, id: JSON.parse(answer.body).depositId as string }));
  // Bounds from uuidv7Floor: uuidv7() is monotonic in this process, so it cannot
  // make an id of the past, and one of the future would date every later id there.
  const range = `from=${uuidv7Floor(load.startedAtMs - 60_000)}&to=${uuidv7Floor(Date.now() + 60_000)}`;
  return { load, cpuUntilNow, answers, statuses: statusesOf(answers), accepted, range };
}

/**
 * After a deposit run: every accepted deposit read back until COMPLETED, and
 * every account grew by exactly its accepted deposits (1 won each).
 */
async function depositInvariants(
  context: SuiteContext,
  run: DepositLoad,
  targets: ReadonlyArray<{ accountNo: string }>,
  before: Map<string, number>,
  customers: readonly Customer[],
): Promise<{ invariants: Invariant[]; lastSettledMs: number; lastSeenMs: number }> {
  const endedAtMs = run.load.startedAtMs + run.load.durationS * 1_000;
  const outcomes = await awaitTerminal(context.api, run.accepted, 'deposits', drainTimeoutMs);
  const lastSettledMs = outcomes.reduce(
    (latest, outcome) => Math.max(latest, outcome.settledAtMs),
    endedAtMs,
  );
  const lastSeenMs = outcomes.reduce((latest, outcome) => Math.max(latest, outcome.seenAtMs), endedAtMs);
  const notCompleted = outcomes.filter((outcome) => outcome.status !== 'COMPLETED');
  const after = await balances(context.api, customers);
  const credited = tally(run.answers, 202);
  const mismatches = targets.filter(
    ({ accountNo }) => after.get(accountNo)! - before.get(accountNo)! !== (credited.get(accountNo) ?? 0),
  );
  return {
    lastSettledMs,
    lastSeenMs,
    invariants: [
      invariant(
        'every accepted deposit COMPLETED',
        notCompleted.length === 0,
        notCompleted.length === 0
          ? `${outcomes.length} COMPLETED, the last settled ${lastSettledMs - endedAtMs} ms after the load`
          : `${notCompleted.length} not: e.g. ${notCompleted[0]!.id} ${notCompleted[0]!.status} ${notCompleted[0]!.failureCode ?? ''}`,
      ),
      invariant(
        'balance = start + Σ accepted deposits, every account',
        mismatches.length === 0,
        `${mismatches.length} of ${targets.length} accounts differ`,
      ),
    ],
  };
}

/**
 * Deposits with the core running: CPU per deposit covers acceptance, the
 * core's ledger write and the settlement back in the channel (the window
 * ends when none is PENDING).
 */
async function measureDeposits(context: SuiteContext, run: number): Promise<RunOutcome> {
  const customers = await context.bankCustomers();
  const targets = targetsOf(customers);
  const before = await balances(context.api, customers);
  const deposits = await loadDeposits(context, targets, `deposit run ${run}`, `d${run}`);
  progress(
    `  deposit run ${run}: ${deposits.accepted.length} accepted; waiting until every one is COMPLETED`,
  );
  await awaitNonePending('deposits', depositsPending(context, deposits.range), drainTimeoutMs);
  const cpu = deposits.cpuUntilNow();
  const checked = await depositInvariants(context, deposits, targets, before, customers);
  const { load } = deposits;
  const endedAtMs = load.startedAtMs + load.durationS * 1_000;
  return {
    figure: count(load.statuses, 202) / load.durationS,
    figures: {
      drainMs: checked.lastSettledMs - endedAtMs,
      completedSeenMs: checked.lastSeenMs - endedAtMs,
      completedPerSecond: deposits.accepted.length / ((checked.lastSettledMs - load.startedAtMs) / 1_000),
      inDoubt: load.inDoubt.length,
    },
    load,
    cpu,
    operations: deposits.accepted.length,
    statuses: deposits.statuses,
    invariants: [
      ...checked.invariants,
      invariant(
        'no 4xx',
        clientErrors(deposits.statuses) === 0,
        `answers ${describeStatuses(deposits.statuses)}`,
      ),
    ],
  };
}

/**
 * Deposits with every core-payment instance stopped (SIGSTOP) for the load:
 * CPU per deposit covers only the acceptance, the window ending once the
 * channel's outbox has relayed every accepted deposit to Kafka. The core is
 * then let go (SIGCONT); its catching up — rejoining its consumer groups,
 * which it was dropped from, applying the backlog in batches, the channel
 * settling it — is measured apart: `settleCpuMsPerOp` and `catchUpMs`.
 */
async function measureDepositAcceptance(context: SuiteContext, run: number): Promise<RunOutcome> {
  const customers = await context.bankCustomers();
  const targets = targetsOf(customers);
  const before = await balances(context.api, customers);
  let stopped = false;
  let deposits: DepositLoad;
  let cpu: CpuBreakdown;
  try {
    stopped = true;
    context.system.signalService('core-payment', 'SIGSTOP');
    deposits = await loadDeposits(context, targets, `deposit-accept run ${run}`, `da${run}`);
    progress(
      `  deposit-accept run ${run}: ${deposits.accepted.length} accepted; waiting until the outbox has relayed them`,
    );
    await awaitNonePending('outbox rows', () => channelOutboxPending(context), drainTimeoutMs);
    cpu = deposits.cpuUntilNow();
  } finally {
    // Never leave the core stopped, whatever failed: the next scenario needs it.
    // A failure to let it go is reported, not thrown over the error that brought us here.
    if (stopped) {
      try {
        context.system.signalService('core-payment', 'SIGCONT');
      } catch (error) {
        progress(`  deposit-accept run ${run}: ${(error as Error).message}`);
      }
    }
  }
  const settleCpu = context.cpuFromNow();
  const releasedAtMs = Date.now();
  progress(`  deposit-accept run ${run}: the core let go; waiting until every deposit is COMPLETED`);
  await awaitNonePending('deposits', depositsPending(context, deposits.range), drainTimeoutMs);
  const catchUpMs = Date.now() - releasedAtMs;
  const settleCpuMsPerOp = cpuMsPerOperation(settleCpu(), context.cores, deposits.accepted.length).total;
  const checked = await depositInvariants(context, deposits, targets, before, customers);
  const { load, statuses } = deposits;
  const accepted = count(statuses, 202);
  return {
    figure: count(load.statuses, 202) / load.durationS,
    figures: { settleCpuMsPerOp, catchUpMs, inDoubt: load.inDoubt.length },
    load,
    cpu,
    operations: deposits.accepted.length,
    statuses,
    invariants: [
      ...checked.invariants,
      invariant(
        'every deposit accepted (202) while the core was stopped',
        accepted === deposits.answers.length,
        `answers ${describeStatuses(statuses)}`,
      ),
    ],
  };
}

export const deposit: Scenario = {
  name: 'deposit',
  title: 'Deposits',
  description:
    'POST /api/v1/accounts/{no}/deposits of 1 won through the gateway, 50 connections over --users customers × 5 accounts for --duration s (default 10), each with its own Idempotency-Key: the acceptance rate (202s). Then the drain: from the end of the load until the last deposit is settled by the core (its settledAt), every accepted deposit read back until COMPLETED. Checks: every accepted deposit COMPLETED; every account grew by exactly its accepted deposits; no 4xx.',
  unit: 'accepted/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: {
    text: '≤ 0.45 ms CPU per deposit accepted, applied and settled',
    met: ({ named }) => (named.cpuMsPerOp?.median ?? Number.POSITIVE_INFINITY) <= 0.45,
  },
  comparisons: [
    { figure: 'figure', ceiling: 'jwks-gateway' },
    { figure: 'figure', ceiling: 'pgbench-n' },
    { figure: 'completedPerSecond', ceiling: 'kafka-producer' },
  ],
  async prepare(context) {
    await context.bankCustomers();
  },
  run: measureDeposits,
};

export const depositAccept: Scenario = {
  name: 'deposit-accept',
  title: 'Deposits accepted while the core is stopped',
  description:
    'The deposit load of `deposit` (the same requests, connections and duration) with every core-payment instance stopped (SIGSTOP) until the channel has relayed every accepted deposit to Kafka: CPU per deposit is what acceptance alone costs — the gateway, channel-user, its durable write in PostgreSQL and the relay to the broker — so that acceptance plus core-deposits (the core applying a deposit from Kafka) is a floor under `deposit` measured in one run. Then the core is let go (SIGCONT) and catches up — it rejoins the consumer groups it was dropped from, applies the backlog in batches, and the channel settles it: what that costs per deposit is `settleCpuMsPerOp`, how long it took `catchUpMs`. Checks: every deposit accepted (202) while the core was stopped; every accepted deposit COMPLETED after it is back; every account grew by exactly its accepted deposits.',
  unit: 'accepted/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: 'reported (acceptance alone: with core-deposits, the floor under deposit)' },
  comparisons: [{ figure: 'figure', ceiling: 'jwks-gateway' }],
  async prepare(context) {
    await context.bankCustomers();
  },
  run: measureDepositAcceptance,
};

/** Won per transfer: small, so the daily limit (₩5,000,000 per sender) is never what the load measures. */
const transferAmount = 1;

export const transfer: Scenario = {
  name: 'transfer',
  title: 'Transfers between accounts',
  description:
    'POST /api/v1/transfers of 1 won through the gateway (channel-user → core-payment REST, both sides in one core transaction), 50 connections round-robin over --users customers × 5 accounts, each account sending to an account of the next customer, for --duration s (default 10), each request with its own Idempotency-Key; in-flight requests at the end are re-sent with their key until they answer. CPU per transfer is every process but the load generator (services, PostgreSQL, Redis, Kafka and anything else on the machine) over the successful transfers. Checks: every account changed by exactly its transfers in minus out; the total over all accounts is unchanged; none below zero; no 4xx.',
  unit: 'transfers/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: {
    text: '≤ 0.5 ms CPU per transfer, every process',
    met: ({ named }) => (named.cpuMsPerOp?.median ?? Number.POSITIVE_INFINITY) <= 0.5,
  },
  comparisons: [
    { figure: 'figure', ceiling: 'jwks-gateway' },
    { figure: 'figure', ceiling: 'pgbench-n' },
  ],
  async prepare(context) {
    await context.bankCustomers();
  },
  async run(context, run) {
    const customers = await context.bankCustomers();
    const templates: RequestTemplate[] = customers.flatMap((customer, index) => {
      const next = customers[(index + 1) % customers.length]!;
      return customer.accounts.map((accountNo, slot) => {
        const toAccountNo = next.accounts[slot % next.accounts.length]!;
        return {
          method: 'POST' as const,
          path: '/api/v1/transfers',
          headers: { authorization: `Bearer ${customer.token}` },
          body: JSON.stringify({ fromAccountNo: accountNo, toAccountNo, amount: transferAmount }),
          tag: `${accountNo}>${toAccountNo}`,
        };
      });
    });
    const before = await balances(context.api, customers);
    const { load, cpu } = await context.load(
      {
        url: context.system.gatewayUrl,
        mode: 'closed',
        connections: context.connections(50),
        durationS: context.durationS(10),
        templates,
        idempotencyKeyPrefix: `${context.runKey}-t${run}`,
        collectBodies: true,
        timeoutS: 10,
      },
      `transfer run ${run}`,
    );
    const settled = await resolveInDoubt(context.system.gatewayUrl, load.inDoubt);
    const answers = [...load.collected, ...settled];
    const statuses = statusesOf(answers);
    const after = await balances(context.api, customers);
    const expected = new Map(before);
    for (const answer of answers) {
      if (answer.status !== 200) continue;
      const [from, to] = answer.tag!.split('>') as [string, string];
      expected.set(from, expected.get(from)! - transferAmount);
      expected.set(to, expected.get(to)! + transferAmount);
    }
    const accounts = [...before.keys()];
    const mismatches = accounts.filter((accountNo) => after.get(accountNo) !== expected.get(accountNo));
    const sum = (map: Map<string, number>) =>
      accounts.reduce((total, accountNo) => total + map.get(accountNo)!, 0);
    const negative = accounts.filter((accountNo) => after.get(accountNo)! < 0);
    const moved = count(load.statuses, 200);
    return {
      figure: moved / load.durationS,
      figures: { inDoubt: load.inDoubt.length },
      load,
      cpu,
      operations: moved,
      statuses,
      invariants: [
        invariant(
          'balance = start + Σ in − Σ out, every account',
          mismatches.length === 0,
          `${mismatches.length} of ${accounts.length} accounts differ (${count(statuses, 200)} transfers, ${settled.length} settled after the load)`,
        ),
        invariant('Σ balances unchanged', sum(after) === sum(before), `${sum(before)} → ${sum(after)}`),
        invariant('no balance below zero', negative.length === 0, `${negative.length} negative`),
        invariant('no 4xx', clientErrors(statuses) === 0, `answers ${describeStatuses(statuses)}`),
      ],
    };
  },
};
