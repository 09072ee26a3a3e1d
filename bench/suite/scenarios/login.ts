// Logins through the gateway: what argon2id costs on this machine, reported
// as a rate and compared with the bare argon2id verification rate.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from '../api.ts';
import type { RequestTemplate } from '../load-types.ts';
import { count, describeStatuses, invariant, type Scenario } from '../scenario.ts';

/**
 * When time is up the load generator drops the logins in flight, but
 * channel-user still verifies each of them (one argon2id hash at a time per
 * slot, half a second's work for 50). The next run's 50 would queue behind
 * them, past the hasher's waiting room (2 running + 64 waiting), and be
 * refused 503 — a refusal the service is right to give, caused by the suite.
 * So the run waits as long as the abandoned logins take at the rate just
 * measured (whatever the number of instances), and then for one more login,
 * which a hasher serves after those before it. A refusal other than 503 is
 * a failure of its own.
 */
async function drainAbandonedLogins(
  api: Api,
  customer: { loginId: string; password: string },
  abandoned: number,
  loginsPerSecond: number,
): Promise<void> {
  await sleep(Math.min(10_000, (1_000 * abandoned) / Math.max(loginsPerSecond, 1)));
  for (let attempt = 1; attempt <= 20; attempt += 1) {
    const answer = await api.call('POST', '/api/v1/auth/login', {
      body: { loginId: customer.loginId, password: customer.password },
    });
    if (answer.status === 200) return;
    if (answer.status !== 503)
      throw new Error(`a login after the run answered ${answer.status}: ${answer.text.slice(0, 300)}`);
    await sleep(250);
  }
  throw new Error('logins still refused 503 twenty times after a run: channel-user never drained');
}

const customersPerConnection = 4;

export const login: Scenario = {
  name: 'login',
  title: 'Logins',
  description:
    'POST /api/v1/auth/login through the gateway with the right password, 50 connections for --duration s (default 10), round-robin over 4 customers per connection (a login storm of distinct people, one login each in flight). Every login verifies an argon2id hash (m = 19 MiB, t = 2) and stores a refresh token. Checks: every answer 200 with an access token (no 401, no lockout).',
  unit: 'logins/s',
  higherIsBetter: true,
  defaultRuns: 3,
  target: { text: 'reported (argon2id cost)' },
  comparisons: [
    { figure: 'figure', ceiling: 'argon2id-verify' },
    { figure: 'figure', ceiling: 'jwks-gateway' },
  ],
  async prepare(context) {
    await context.loginCustomers(customersPerConnection * context.connections(50));
  },
  async run(context, run) {
    const connections = context.connections(50);
    const customers = await context.loginCustomers(customersPerConnection * connections);
    const templates: RequestTemplate[] = customers.map((customer) => ({
      method: 'POST',
      path: '/api/v1/auth/login',
      body: JSON.stringify({ loginId: customer.loginId, password: customer.password }),
    }));
    const { load, cpu } = await context.load(
      {
        url: context.system.gatewayUrl,
        mode: 'closed',
        connections,
        durationS: context.durationS(10),
        templates,
        collectBodies: true,
        timeoutS: 30,
      },
      `login run ${run}`,
    );
    if (load.inDoubt.length > 0) {
      await drainAbandonedLogins(
        context.api,
        customers[0]!,
        load.inDoubt.length,
        count(load.statuses, 200) / load.durationS,
      );
    }
    const withToken = load.collected.filter(
      (answer) => answer.status === 200 && typeof JSON.parse(answer.body).accessToken === 'string',
    ).length;
    return {
      figure: count(load.statuses, 200) / load.durationS,
      figures: { inDoubt: load.inDoubt.length },
      load,
      cpu,
      operations: count(load.statuses, 200),
      statuses: load.statuses,
      invariants: [
        invariant(
          'every login answered 200 with an access token',
          withToken === load.answered && load.answered > 0,
          `answers ${describeStatuses(load.statuses)}, ${withToken} with a token`,
        ),
      ],
    };
  },
};
