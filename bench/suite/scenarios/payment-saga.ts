// Composite payments through the gateway, and straight at point: point
// deducts points and accepts (202), core-payment takes the cash from Kafka,
// point completes or compensates. A share of the payments go to empty
// accounts and must fail.
import { awaitTerminal, balances, type Customer, mapConcurrently } from '../api.ts';
import { resolveInDoubt } from '../load.ts';
import type { RequestTemplate } from '../load-types.ts';
import { progress } from '../progress.ts';
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
import { percentile } from '../stats.ts';

const settleTimeoutMs = 300_000;
const pointsPerPayment = 100;
const cashStepsWon = [1_000, 2_000, 3_000, 4_000, 5_000];
/** Templates repeat with this period; within it the failing share is exact to 0.1 %. */
const patternLength = 1_000;
/** The last payments accepted are watched first: when they are terminal, nearly all are. */
const sentinelCount = 20;

interface Expectation {
  customer: number;
  failing: boolean;
}

function paymentTemplates(funded: Customer[], unfunded: Customer[], failingShare: number): RequestTemplate[] {
  const everyone = [...funded, ...unfunded];
  return Array.from({ length: patternLength }, (_, index) => {
    // A multiplicative hash spreads the failing ones evenly over the pattern.
    const failing = unfunded.length > 0 && (index * 7919) % patternLength < failingShare * patternLength;
    const pool = failing ? unfunded : funded;
    const customer = pool[index % pool.length]!;
    const expectation: Expectation = { customer: everyone.indexOf(customer), failing };
    return {
      method: 'POST',
      path: '/api/v1/payments',
      headers: { authorization: `Bearer ${customer.token}` },
      body: JSON.stringify({
        accountNo: customer.accounts[0],
        cashAmount: cashStepsWon[index % cashStepsWon.length],
        pointAmount: pointsPerPayment,
      }),
      tag: JSON.stringify(expectation),
    };
  });
}

async function pointBalances(context: SuiteContext, customers: readonly Customer[]): Promise<number[]> {
  return mapConcurrently(customers, 8, async (customer) => {
    const answer = await context.api.expect(200, 'GET', '/api/v1/points', { token: customer.token });
    return answer.json.balance as number;
  });
}

export const paymentSaga: Scenario = {
  name: 'payment-saga',
  title: 'Payment saga',
  description:
    'POST /api/v1/payments through the gateway: --payments payments (default 10,000) on 50 connections, each 100 points + 1,000–5,000 won, --failing of them (default 30 %) on accounts without cash, each with its own Idempotency-Key. Accepted/s is 202s per second of load; request→terminal runs from sending the payment to its settledAt (COMPLETED or FAILED). Checks: every accepted payment terminal, the funded ones COMPLETED and the others FAILED INSUFFICIENT_BALANCE; every wallet = start − points of its COMPLETED payments (the FAILED ones refunded); every account = start − cash of its COMPLETED payments; no 4xx.',
  unit: 'accepted/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: {
    text: '≥ 1,500/s accepted, request→terminal p99 ≤ 250 ms',
    met: ({ figure, named }) =>
      figure.median >= 1_500 && (named.settleP99Ms?.median ?? Number.POSITIVE_INFINITY) <= 250,
  },
  comparisons: [
    { figure: 'figure', ceiling: 'jwks-gateway' },
    { figure: 'settledPerSecond', ceiling: 'kafka-producer' },
  ],
  async prepare(context) {
    await payersFor(context);
  },
  async run(context, run) {
    return paymentRun(context, context.system.gatewayUrl, 'p', 'payment-saga', run);
  },
};

export const paymentSagaDirect: Scenario = {
  ...paymentSaga,
  name: 'payment-saga-direct',
  title: 'Payment saga, straight at point',
  description:
    "The same payments sent straight at point's public route (the customer's access token, which point checks itself) instead of through the gateway; the rest of the saga (Kafka, core-payment, back) as in payment-saga, with its checks. The difference to payment-saga is what the gateway costs a payment.",
  comparisons: [{ figure: 'settledPerSecond', ceiling: 'kafka-producer' }],
  async run(context, run) {
    return paymentRun(context, context.system.pointUrl, 'pd', 'payment-saga-direct', run);
  },
};

/** One run of `--payments` payments sent to `url` (the gateway or point), until each is terminal. */
async function paymentRun(
  context: SuiteContext,
  url: string,
  keyLabel: string,
  label: string,
  run: number,
): Promise<RunOutcome> {
  const { funded, unfunded } = await payersFor(context);
  const everyone = [...funded, ...unfunded];
  const pointsBefore = await pointBalances(context, everyone);
  const cashBefore = await balances(context.api, everyone);
  const { load, cpuUntilNow } = await context.load(
    {
      url,
      mode: 'closed',
      connections: context.connections(50),
      amount: context.options.payments,
      templates: paymentTemplates(funded, unfunded, context.options.failingShare),
      idempotencyKeyPrefix: `${context.runKey}-${keyLabel}${run}`,
      collectBodies: true,
      timeoutS: 10,
    },
    `${label} run ${run}`,
  );
  const settled = await resolveInDoubt(url, load.inDoubt);
  const answers = [...load.collected, ...settled];
  const statuses: Record<string, number> = {};
  for (const answer of answers) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
  const accepted = answers
    .filter((answer) => answer.status === 202)
    .map((answer) => {
      const body = JSON.parse(answer.body) as {
        paymentId: string;
        cashAmount: number;
        pointAmount: number;
      };
      const expectation = JSON.parse(answer.tag!) as Expectation;
      return {
        ...body,
        ...expectation,
        sentAtMs: answer.sentAtMs,
        settledAfterLoad: settled.includes(answer),
      };
    });
  progress(`  ${label} run ${run}: ${accepted.length} accepted; waiting until every one is terminal`);
  // CPU per payment covers the whole saga: the window ends when none is PENDING.
  await awaitNonePending(
    'payments',
    async () =>
      (
        await getInternal<{ byStatus: { PENDING: number } }>(
          context,
          context.system.pointUrl,
          '/internal/v1/ops/payments',
        )
      ).byStatus.PENDING,
    settleTimeoutMs,
  );
  const cpu = cpuUntilNow();
  const items = accepted.map((payment) => ({
    token: everyone[payment.customer]!.token,
    id: payment.paymentId,
  }));
  await awaitTerminal(context.api, items.slice(-sentinelCount), 'payments', settleTimeoutMs);
  const outcomes = await awaitTerminal(context.api, items, 'payments', settleTimeoutMs);
  // Latency only for payments whose send time is the original one.
  const latencies = accepted
    .map((payment, index) => ({ payment, outcome: outcomes[index]! }))
    .filter(({ payment }) => !payment.settledAfterLoad)
    .map(({ payment, outcome }) => Math.max(0, outcome.settledAtMs - payment.sentAtMs))
    .sort((a, b) => a - b);
  const lastSettledMs = outcomes.reduce((latest, outcome) => Math.max(latest, outcome.settledAtMs), 0);
  const wrong = accepted.filter((payment, index) => {
    const outcome = outcomes[index]!;
    return payment.failing
      ? outcome.status !== 'FAILED' || outcome.failureCode !== 'INSUFFICIENT_BALANCE'
      : outcome.status !== 'COMPLETED';
  });
  const pointsAfter = await pointBalances(context, everyone);
  const cashAfter = await balances(context.api, everyone);
  const pointsSpent = new Array<number>(everyone.length).fill(0);
  const cashSpent = new Array<number>(everyone.length).fill(0);
  accepted.forEach((payment, index) => {
    if (outcomes[index]!.status !== 'COMPLETED') return;
    pointsSpent[payment.customer]! += payment.pointAmount;
    cashSpent[payment.customer]! += payment.cashAmount;
  });
  const walletsWrong = everyone.filter(
    (_, index) => pointsBefore[index]! - pointsAfter[index]! !== pointsSpent[index],
  );
  const accountsWrong = everyone.filter((customer, index) => {
    const accountNo = customer.accounts[0]!;
    return cashBefore.get(accountNo)! - cashAfter.get(accountNo)! !== cashSpent[index];
  });
  const failed = outcomes.filter((outcome) => outcome.status === 'FAILED').length;
  const clientErrors = Object.entries(statuses).filter(([status]) => status.startsWith('4'));
  return {
    figure: count(load.statuses, 202) / load.durationS,
    figures: {
      settledPerSecond: accepted.length / ((lastSettledMs - load.startedAtMs) / 1_000),
      settleP50Ms: percentile(latencies, 50),
      settleP90Ms: percentile(latencies, 90),
      settleP99Ms: percentile(latencies, 99),
      failedShare: failed / Math.max(1, accepted.length),
      inDoubt: load.inDoubt.length,
    },
    load,
    cpu,
    operations: accepted.length,
    statuses,
    invariants: [
      invariant(
        'every payment terminal: funded COMPLETED, unfunded FAILED INSUFFICIENT_BALANCE',
        wrong.length === 0,
        wrong.length === 0
          ? `${accepted.length} terminal, ${failed} FAILED`
          : `${wrong.length} wrong, e.g. ${wrong[0]!.paymentId} (${wrong[0]!.failing ? 'unfunded' : 'funded'})`,
      ),
      invariant(
        'wallet = start − points of COMPLETED payments (FAILED refunded), every customer',
        walletsWrong.length === 0,
        `${walletsWrong.length} of ${everyone.length} differ`,
      ),
      invariant(
        'account = start − cash of COMPLETED payments, every customer',
        accountsWrong.length === 0,
        `${accountsWrong.length} of ${everyone.length} differ`,
      ),
      invariant('no 4xx', clientErrors.length === 0, `answers ${describeStatuses(statuses)}`),
    ],
  };
}

function payersFor(context: SuiteContext) {
  // The warm-up (run 0) pays too.
  const runs = (context.options.runs ?? paymentSaga.defaultRuns) + (context.options.warmUp ? 1 : 0);
  // The customers pay in every saga scenario of the run: enough cash and points for all of them.
  const sagas = context.options.scenarios.filter(
    (name) => name === paymentSaga.name || name === 'payment-saga-direct',
  ).length;
  const paymentsTotal = context.options.payments * runs * Math.max(1, sagas);
  const cashMax = Math.max(...cashStepsWon);
  return context.payers(({ funded, unfunded }) => ({
    cashEach: Math.ceil(paymentsTotal / funded) * cashMax,
    // Each customer makes at most its pool's share of every payment.
    pointsEach:
      Math.ceil(paymentsTotal / Math.max(1, Math.min(funded, unfunded || funded))) * pointsPerPayment,
  }));
}
