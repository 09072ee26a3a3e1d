import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAdminAuthenticator } from '../../src/admin-auth.ts';
import { AppError } from '../../src/errors.ts';
import { createHttpApp } from '../../src/http.ts';
import { lagOf } from '../../src/kafka/lag.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';
import { gatherReconciliation, type ReportReader } from '../../src/reconciliation.ts';
import { processOf } from '../../src/upstream.ts';

// The pure parts of what the operator console is built on: consumer lag,
// the reconciliation's gathering, the admin token check, and the instance
// a readiness answer names.

describe('consumer lag', () => {
  it('when a group committed on each partition, then its lag is the sum of what lies past its commits', () => {
    assert.equal(
      lagOf([
        { start: 0n, end: 10n, committed: 4n },
        { start: 0n, end: 7n, committed: 7n },
      ]),
      6n,
    );
  });

  it('when a group never committed on a partition, then it counts from the log start (retention included)', () => {
    assert.equal(lagOf([{ start: 3n, end: 10n, committed: -1n }]), 7n);
    assert.equal(lagOf([{ start: 0n, end: 0n, committed: -1n }]), 0n, 'an empty partition is no lag');
  });

  it('when a commit lies past the end (a topic recreated), then that partition is no lag, never negative', () => {
    assert.equal(lagOf([{ start: 0n, end: 2n, committed: 9n }]), 0n);
  });
});

describe('reconciliation gathering', () => {
  const reports: Record<string, Record<string, unknown>> = {
    'core-payment': {
      accountsChecked: 2,
      balanceMismatches: [],
      unbalancedTransactions: [],
      duplicateApplications: [],
      moneySupply: {
        balances: '70',
        deposits: '100',
        withdrawals: '10',
        payments: '20',
        transfersOut: '5',
        transfersIn: '5',
      },
      transferMismatches: [],
    },
    point: { stuckPayments: [], pendingOverdue: 0, walletMismatches: [], paymentMismatches: [] },
    coupon: { mismatches: [], campaigns: [{}], notLoaded: [] },
  };
  const totals = { byStatus: { COMPLETED: { count: 1, amount: '100' } } };
  const reader =
    (down: string | undefined): ReportReader =>
    async (service, path) => {
      if (service === down) throw new Error(`${service} is down`);
      return path.startsWith('/internal/v1/deposit-totals') ? totals : reports[service]!;
    };

  it('when every service answers and agrees, then every section holds every check', async () => {
    const sections = await gatherReconciliation(reader(undefined));
    assert.deepEqual(
      sections.map((section) => section.service),
      ['core-payment', 'point', 'coupon', 'deposits (channel-user ↔ core-payment, last 7 days)'],
    );
    for (const section of sections) {
      assert.equal(section.unreachable, undefined);
      for (const check of section.checks) assert.equal(check.ok, true, `${section.service}: ${check.label}`);
    }
  });

  it('when a service cannot be asked, then its sections say why and the others are still checked', async () => {
    const sections = await gatherReconciliation(reader('point'));
    const point = sections.find((section) => section.service === 'point')!;
    assert.deepEqual(point, { service: 'point', checks: [], unreachable: 'point is down' });
    assert.ok(sections.find((section) => section.service === 'coupon')!.checks.length > 0);
  });

  it('when a balance disagrees with the ledger, then that check fails and names the account', async () => {
    const tampered = {
      ...reports['core-payment'],
      balanceMismatches: [{ accountNo: '110-234-567890', balance: 2, ledgerSum: 1 }],
    };
    const sections = await gatherReconciliation(async (service, path) =>
      service === 'core-payment' && path === '/internal/v1/reconciliation'
        ? tampered
        : reader(undefined)(service, path),
    );
    const check = sections[0]!.checks.find((candidate) =>
      candidate.label.startsWith('balance = ledger sum'),
    )!;
    assert.equal(check.ok, false);
    assert.match(check.findings[0]!, /110-234-567890/);
  });
});

describe('admin token', () => {
  const authenticate = createAdminAuthenticator('a'.repeat(40));
  const refusal = (authorization: string | undefined) => {
    try {
      authenticate(authorization);
      return 'admitted';
    } catch (error) {
      assert.ok(error instanceof AppError);
      return `${error.status} ${error.code}`;
    }
  };

  it('when the token is missing, then 401; wrong or of another length, 403; right, admitted', () => {
    assert.equal(refusal(undefined), '401 UNAUTHENTICATED');
    assert.equal(refusal('Basic abc'), '401 UNAUTHENTICATED');
    assert.equal(refusal(`Bearer ${'a'.repeat(39)}b`), '403 FORBIDDEN');
    assert.equal(refusal('Bearer a'), '403 FORBIDDEN');
    assert.equal(refusal(`Bearer ${'a'.repeat(40)}`), 'admitted');
    assert.equal(refusal(`bearer  ${'a'.repeat(40)}`), 'admitted');
  });
});

describe('instance of a readiness answer', () => {
  it('when /health/ready names its process, then the probe keeps pid, start and restarts', async () => {
    const app = createHttpApp({
      name: 'test',
      logger: createLogger({ name: 'test', level: 'silent' }),
      metrics: createMetrics('test'),
    });
    const answer = await app.inject({ method: 'GET', url: '/health/ready' });
    const instance = processOf(answer.body);
    assert.equal(instance?.pid, process.pid);
    assert.ok(Math.abs(Date.parse(instance!.startedAt) - (Date.now() - process.uptime() * 1_000)) < 2_000);
    assert.equal(instance?.restarts, undefined, 'unknown unless the supervisor said');
    await app.close();
  });

  it('when the answer is not one, then nothing is believed', () => {
    assert.equal(processOf('not json'), undefined);
    assert.equal(processOf('{"status":"ok"}'), undefined);
    assert.equal(processOf('{"instance":{"pid":0,"startedAt":"2026-01-01T00:00:00Z"}}'), undefined);
    assert.equal(processOf('{"instance":{"pid":7,"startedAt":"yesterday"}}'), undefined);
    assert.deepEqual(processOf('{"instance":{"pid":7,"startedAt":"2026-01-01T00:00:00Z","restarts":-1}}'), {
      pid: 7,
      startedAt: '2026-01-01T00:00:00.000Z',
    });
    assert.deepEqual(processOf('{"instance":{"pid":7,"startedAt":"2026-01-01T00:00:00Z","restarts":3}}'), {
      pid: 7,
      startedAt: '2026-01-01T00:00:00.000Z',
      restarts: 3,
    });
  });
});
