// An authenticated read, GET /api/v1/me, through the gateway and straight at
// channel-user: what the gateway costs a request that carries a token (its
// own token check and the hop), beside the jwks ceilings' route without one.
import type { Customer } from '../api.ts';
import type { RequestTemplate } from '../load-types.ts';
import {
  count,
  describeStatuses,
  invariant,
  type RunOutcome,
  type Scenario,
  type SuiteContext,
} from '../scenario.ts';

function meTemplates(customers: readonly Customer[]): RequestTemplate[] {
  return customers.map((customer) => ({
    method: 'GET',
    path: '/api/v1/me',
    headers: { authorization: `Bearer ${customer.token}` },
    tag: customer.userUuid,
  }));
}

/** Reads of `--users` customers' own profiles at `url` for --duration s; each answer must be its own. */
async function meRun(context: SuiteContext, url: string, label: string, run: number): Promise<RunOutcome> {
  const customers = await context.bankCustomers();
  const { load, cpu } = await context.load(
    {
      url,
      mode: 'closed',
      connections: context.connections(50),
      durationS: context.durationS(10),
      templates: meTemplates(customers),
      collectBodies: true,
      timeoutS: 10,
    },
    `${label} run ${run}`,
  );
  const read = count(load.statuses, 200);
  const foreign = load.collected.filter(
    (answer) => answer.status === 200 && JSON.parse(answer.body).userUuid !== answer.tag,
  ).length;
  return {
    figure: read / load.durationS,
    figures: { inDoubt: load.inDoubt.length },
    load,
    cpu,
    operations: read,
    statuses: load.statuses,
    invariants: [
      invariant(
        "every read answered 200 with the caller's own profile",
        read === load.answered && read > 0 && foreign === 0,
        `answers ${describeStatuses(load.statuses)}, ${foreign} with another user's profile`,
      ),
    ],
  };
}

export const me: Scenario = {
  name: 'me',
  title: 'Profile reads, through the gateway',
  description:
    "GET /api/v1/me through the gateway with each customer's access token, 50 connections round-robin over the --users customers for --duration s (default 10): the gateway checks the token and passes the request on, channel-user checks it again and reads the masked profile from its database. Checks: every answer 200 with the caller's own profile.",
  unit: 'reads/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: 'reported (the gateway’s cost: compare me-direct)' },
  comparisons: [{ figure: 'figure', ceiling: 'jwks-gateway' }],
  async prepare(context) {
    await context.bankCustomers();
  },
  async run(context, run) {
    return meRun(context, context.system.gatewayUrl, 'me', run);
  },
};

export const meDirect: Scenario = {
  ...me,
  name: 'me-direct',
  title: 'Profile reads, straight at channel-user',
  description:
    "The same reads sent straight at channel-user: the difference to me is what the gateway costs a request carrying a token (the jwks ceilings measure it for one without). Checks: every answer 200 with the caller's own profile.",
  target: { text: 'reported (compare me)' },
  comparisons: [{ figure: 'figure', ceiling: 'jwks-direct' }],
  async run(context, run) {
    return meRun(context, context.system.channelUserUrl, 'me-direct', run);
  },
};
