// core-payment with nothing in front (own-core.ts: its own process, database
// and topics): deposits produced straight to its Kafka topic and applied to
// the ledger, and withdrawals on its internal route as channel-user sends
// them — over many accounts and on one. What the gateway, channel-user and
// the system's other traffic add is the difference to deposit and withdraw.
import { loadWithoutRequests, samplesFromTotals } from '../load.ts';
import type { RequestTemplate } from '../load-types.ts';
import { awaitSettled, type CoreAccount, type OwnCore } from '../own-core.ts';
import { progress } from '../progress.ts';
import { idempotencyKeyPlaceholder } from '../requests.ts';
import { invariant, type RunOutcome, type Scenario, type SuiteContext } from '../scenario.ts';
import { measureWithdrawals, type WithdrawalLoad } from './money.ts';

/**
 * What CPU per operation counts: the core and its database, and for deposits
 * the broker they come through (withdrawals never touch it, and it is shared
 * with whatever else runs on the machine). The system's own core-payment
 * idles meanwhile under the same group name; its background (consumers
 * polling, an outbox relay waiting) is a small bias.
 */
const withdrawalGroups = ['core-payment', 'postgresql'];
const depositGroups = [...withdrawalGroups, 'kafka'];
/** Won per deposit: the amount changes nothing the core does. */
const depositWon = 1;
const settleTimeoutMs = 300_000;
/**
 * How often the deposits' settlement is asked while they drain. The figure
 * is deposits ÷ time to the last one seen settled, so the poll's period is
 * its error (≤ 100 ms of a run of seconds); each ask is one index range count
 * in PostgreSQL, billed to the run's CPU like the work it waits on.
 */
const settlePollMs = 100;

export const coreDeposits: Scenario = {
  name: 'core-deposits',
  title: 'Deposits applied by core-payment, from Kafka',
  description:
    "--deposits deposit.requested events per run (default 50,000) of 1 won each, round-robin over the --accounts accounts (default 1,000) of a core-payment of the scenario's own (its server.ts; its own database and topics), produced by the suite straight to the core's topic in batches of 2,000: no gateway, no channel-user, no outbox in front. Applied/s runs from the first send until the core has settled the last one (its deposit-totals route, asked every 100 ms); CPU per deposit is the core's, PostgreSQL's and Kafka's over that window (not the suite's, which produced them). Checks: every deposit settled COMPLETED exactly once, for exactly the won sent; the core's own reconciliation (balance = ledger, balanced transactions, each deposit applied once, money supply) holds.",
  unit: 'applied/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: '≥ 10,000/s applied', met: ({ figure }) => figure.median >= 10_000 },
  comparisons: [{ figure: 'figure', ceiling: 'kafka-producer' }],
  measuredGroups: depositGroups,
  withoutSystem: true,
  async prepare(context) {
    await context.ownCore();
  },
  async run(context, run) {
    const core = await context.ownCore();
    const total = context.options.coreDeposits;
    const items = Array.from({ length: total }, (_, index) => ({
      account: core.accounts[index % core.accounts.length]!,
      won: depositWon,
    }));
    const cpuUntilNow = context.cpuFromNow();
    const startedAtMs = Date.now();
    const ids = await core.produceDeposits(items, `${context.runKey}-cd${run}`);
    const producedAtMs = Date.now();
    progress(`  core-deposits run ${run}: ${total} produced; waiting until the core settled every one`);
    const totals: Array<{ atMs: number; total: number }> = [];
    const { settled, atMs } = await awaitSettled(
      core,
      ids[0]!,
      total,
      settleTimeoutMs,
      settlePollMs,
      (seen, seenAtMs) => totals.push({ atMs: seenAtMs, total: seen.completed + seen.failed }),
    );
    const cpu = cpuUntilNow();
    const reconciliation = await core.reconciliation();
    const applied = settled.completed;
    return {
      figure: applied / ((atMs - startedAtMs) / 1_000),
      figures: { produceMs: producedAtMs - startedAtMs },
      load: loadWithoutRequests({
        startedAtMs,
        endedAtMs: atMs,
        completed: settled.completed + settled.failed,
        samples: samplesFromTotals(totals, startedAtMs),
        // The suite produced the deposits: it is this load's generator.
        generatorShare: cpu.groups.suite ?? 0,
      }),
      cpu,
      operations: applied,
      statuses: {},
      invariants: [
        invariant(
          `all ${total} deposits COMPLETED, once each, for exactly the won sent`,
          settled.completed === total &&
            settled.failed === 0 &&
            settled.completedWon === BigInt(total * depositWon),
          `${settled.completed} COMPLETED (₩${settled.completedWon}), ${settled.failed} FAILED`,
        ),
        invariant("the core's own reconciliation holds", reconciliation.ok, reconciliation.detail),
      ],
    };
  },
};

/** Withdrawals of 1 won on the core's internal route, as channel-user sends them (key in the body). */
function coreWithdrawals(core: OwnCore, accounts: readonly CoreAccount[], keyLabel: string): WithdrawalLoad {
  const templates: RequestTemplate[] = accounts.map((account) => ({
    method: 'POST',
    path: `/internal/v1/accounts/${account.accountNo}/withdrawals`,
    headers: { authorization: `Bearer ${core.channelToken}` },
    body: JSON.stringify({
      userUuid: account.userUuid,
      amount: 1,
      idempotencyKey: idempotencyKeyPlaceholder,
    }),
    tag: account.accountNo,
  }));
  return {
    url: core.url,
    templates,
    accounts: accounts.map((account) => account.accountNo),
    readBalances: () => core.balances(accounts),
    keyLabel,
  };
}

/** One run of withdrawals at the core over `pick`'s accounts, then the core's own reconciliation. */
async function withdrawalRun(
  context: SuiteContext,
  pick: (accounts: CoreAccount[]) => CoreAccount[],
  keyLabel: string,
  label: string,
  run: number,
): Promise<RunOutcome> {
  const core = await context.ownCore();
  const measured = await measureWithdrawals(
    context,
    coreWithdrawals(core, pick(core.accounts), keyLabel),
    label,
    run,
  );
  const reconciliation = await core.reconciliation();
  return {
    ...measured,
    invariants: [
      ...measured.invariants,
      invariant("the core's own reconciliation holds", reconciliation.ok, reconciliation.detail),
    ],
  };
}

export const coreWithdraw: Scenario = {
  name: 'core-withdraw',
  title: 'Withdrawals at core-payment, many accounts',
  description:
    "POST /internal/v1/accounts/{no}/withdrawals of 1 won with channel-user's token, straight at a core-payment of the scenario's own (no gateway, no channel-user), 50 connections round-robin over its --accounts accounts (default 1,000) for --duration s (default 10), each request with its own idempotency key (in the body, as channel-user sends it); requests left in flight at the end are re-sent with their key until they answer. The core gathers withdrawals into shared transactions (NURI_CORE_PAYMENT_WITHDRAWAL_BATCH_SIZE_MAX, _LANES in the environment reach it). CPU per withdrawal is the core's and PostgreSQL's. Checks: every account fell by exactly its successful withdrawals; none below zero; no 4xx; the core's own reconciliation holds.",
  unit: 'withdrawals/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: {
    text: '≥ 5,000/s, p99 ≤ 20 ms',
    met: ({ figure, p99Ms }) => figure.median >= 5_000 && p99Ms.median <= 20,
  },
  comparisons: [{ figure: 'figure', ceiling: 'pgbench-n' }],
  measuredGroups: withdrawalGroups,
  withoutSystem: true,
  async prepare(context) {
    await context.ownCore();
  },
  async run(context, run) {
    return withdrawalRun(context, (accounts) => accounts, 'cw', 'core-withdraw', run);
  },
};

export const coreWithdrawHot: Scenario = {
  name: 'core-withdraw-hot',
  title: 'Withdrawals at core-payment, one hot account',
  description:
    "The same withdrawals straight at the core, every connection (50) on ONE of its accounts: the core serialises them on the row. Checks: balance = start − Σ successful withdrawals exactly (in-doubt requests settled by re-sending them with their key); never below zero; no 4xx; the core's own reconciliation holds.",
  unit: 'withdrawals/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: 'correct under contention' },
  comparisons: [{ figure: 'figure', ceiling: 'pgbench-n' }],
  measuredGroups: withdrawalGroups,
  withoutSystem: true,
  async prepare(context) {
    await context.ownCore();
  },
  async run(context, run) {
    return withdrawalRun(context, (accounts) => accounts.slice(0, 1), 'ch', 'core-withdraw-hot', run);
  },
};
