import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { consumerGroups } from '@nuri/contracts/consumer-groups';
import { createEventProducer } from '@nuri/platform/kafka/producer';
import { kafkaBrokerList, loadCliConfig } from '../src/cli/config.ts';
import { environmentWithSecrets } from '../src/cli/secrets.ts';
import { services as serviceSpecs } from '../src/cli/services.ts';
import { httpClient, startTestSystem, type TestSystem } from './harness.ts';

// The operator console's API (docs/api.md "Operations") through a real gateway in
// front of every real service (e2e/harness.ts: its own ports, databases and
// topics): the admin token, the services and their instances, consumer lag,
// the outboxes, dead letters put there by a real consumer and replayed, the
// payments, a reconciliation, the limiters' refusals and the campaign list.

const settleTimeoutMs = 30_000;
/** GET /health per IP per minute on this system: low enough to trip, high enough for start-up's checks. */
const healthLimitPerMinute = 40;

let system: TestSystem;
let base: string;
let adminToken: string;
const customerName = `Admin Probe ${randomBytes(2).toString('hex').replace(/[0-9]/g, 'x')}`;
const customerRrn = `9${randomBytes(1)[0]! % 10}0101-1${String(randomBytes(3).readUIntBE(0, 3) % 1_000_000).padStart(6, '0')}`;
const customerPhone = `010-${1000 + (randomBytes(2).readUInt16BE() % 9000)}-${1000 + (randomBytes(2).readUInt16BE() % 9000)}`;
/** Every admin answer seen, to check none carries the customer's name, RRN or phone. */
const adminAnswers: string[] = [];

const http = httpClient(() => base);

async function admin(method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const answer = await http(method, path, {
    token: adminToken,
    ...(body === undefined ? {} : { body }),
    ...(headers === undefined ? {} : { headers }),
  });
  adminAnswers.push(answer.text);
  return answer;
}

/**
 * An admin call whose 503 BROKER_UNAVAILABLE ("Kafka did not answer in time;
 * retry shortly") is retried shortly, as the API tells a client to: on a
 * loaded CI machine a dead-letter read once took past the 10 s the gateway
 * allows (it then joined a consumer group of its own; it no longer does).
 * Only for calls that are safe to repeat (reads, and replays whose letters
 * were replayed before).
 */
async function adminRetryingBroker(method: string, path: string, body?: unknown) {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await admin(method, path, body);
    if (answer.status !== 503 || answer.body?.code !== 'BROKER_UNAVAILABLE' || attempt === 3) return answer;
    await new Promise((retry) => setTimeout(retry, 1_000));
  }
}

async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = settleTimeoutMs,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(200);
  }
}

async function newCustomer(): Promise<{ token: string }> {
  const loginId = `e2e_${randomBytes(6).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}-7`;
  const signup = await http('POST', '/api/v1/auth/signup', {
    body: { loginId, password, name: customerName, rrn: customerRrn, phone: customerPhone },
  });
  assert.equal(signup.status, 201, signup.text);
  const login = await http('POST', '/api/v1/auth/login', { body: { loginId, password } });
  assert.equal(login.status, 200, login.text);
  return { token: login.body.accessToken };
}

before(async () => {
  system = await startTestSystem({
    envOverrides: { NURI_GATEWAY_HEALTH_LIMIT_PER_IP: String(healthLimitPerMinute) },
  });
  base = system.gatewayUrl;
  adminToken = environmentWithSecrets(system.env).NURI_ADMIN_TOKEN!;
});

after(async () => {
  await system?.shutdown();
});

describe('the admin token', () => {
  test('when an admin API is called without a token, then 401; with a wrong one, 403; an unknown admin path is 404', async () => {
    const missing = await http('GET', '/api/v1/admin/services');
    assert.equal(missing.status, 401, missing.text);
    assert.equal(missing.body.code, 'UNAUTHENTICATED');
    assert.match(missing.headers.get('content-type') ?? '', /application\/problem\+json/);
    const wrong = await http('GET', '/api/v1/admin/services', { token: 'x'.repeat(43) });
    assert.equal(wrong.status, 403, wrong.text);
    assert.equal(wrong.body.code, 'FORBIDDEN');
    const replayWithout = await http('POST', '/api/v1/admin/dlq/replays', { body: { all: true } });
    assert.equal(replayWithout.status, 401, 'refused before the body is looked at');
    const unknown = await admin('GET', '/api/v1/admin/nothing-here');
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.body.code, 'NOT_FOUND');
    const internal = await admin('GET', '/internal/v1/reconciliation');
    assert.equal(internal.status, 404, 'the gateway never exposes /internal/*');
  });
});

describe('services', () => {
  test('when every service runs, then each is listed with its zone, ready counts and each instance process', async () => {
    const answer = await admin('GET', '/api/v1/admin/services');
    assert.equal(answer.status, 200, answer.text);
    const byName = new Map(answer.body.items.map((item: { service: string }) => [item.service, item]));
    assert.deepEqual(
      [...byName.keys()].sort(),
      serviceSpecs.map((spec) => spec.name).sort(),
      'every service the system runs, core and gateway included',
    );
    for (const spec of serviceSpecs) {
      const item = byName.get(spec.name) as {
        zone: string;
        ready: number;
        total: number;
        instances: Array<{ url: string; state: string; pid?: number; startedAt?: string; restarts?: number }>;
      };
      assert.equal(item.zone, spec.zone, spec.name);
      assert.equal(item.total, 1, spec.name);
      assert.equal(item.ready, 1, spec.name);
      const [instance] = item.instances;
      assert.equal(instance?.state, 'ready', spec.name);
      assert.ok(Number.isInteger(instance?.pid) && instance!.pid! > 0, `${spec.name} names its pid`);
      assert.ok(!Number.isNaN(Date.parse(instance?.startedAt ?? '')), `${spec.name} says when it started`);
      assert.equal(instance?.restarts, 0, `${spec.name} was never restarted`);
    }
    const supervised = new Map(system.supervisor.list().map((instance) => [instance.service, instance.pid]));
    for (const spec of serviceSpecs) {
      const item = byName.get(spec.name) as { instances: Array<{ pid?: number }> };
      assert.equal(item.instances[0]?.pid, supervised.get(spec.name), `${spec.name}: the supervisor's pid`);
    }
  });
});

describe('kafka', () => {
  test('when the broker is up, then the lag of every consumer group on each of its topics is listed', async () => {
    const answer = await admin('GET', '/api/v1/admin/kafka/lag');
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.brokerReachable, true);
    const prefix = system.env.NURI_KAFKA_TOPIC_PREFIX ?? '';
    for (const group of consumerGroups) {
      for (const topic of group.topics) {
        const item = answer.body.items.find(
          (entry: { group: string; topic: string }) =>
            entry.group === system.env[group.variable] && entry.topic === `${prefix}${topic}`,
        );
        assert.ok(item !== undefined, `${group.variable} on ${topic}`);
        assert.ok(Number.isInteger(item.lag) && item.lag >= 0);
        assert.equal(item.partitions, 2, 'the harness makes two partitions per topic');
      }
    }
  });

  test('when the outboxes are asked, then every service with one answers its backlog', async () => {
    const answer = await admin('GET', '/api/v1/admin/outbox');
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body.items.map((item: { service: string }) => item.service).sort(), [
      'channel-user',
      'core-payment',
      'point',
    ]);
    for (const item of answer.body.items) {
      assert.equal(item.reachable, true, item.service);
      assert.ok(Number.isInteger(item.pending) && item.pending >= 0, item.service);
      assert.ok(item.oldestAgeSeconds === null || item.oldestAgeSeconds >= 0, item.service);
    }
  });
});

describe('money', () => {
  test('when a payment completes, then payments counts it by status, none stuck, and a reconciliation holds', async () => {
    const customer = await newCustomer();
    const opened = await http('POST', '/api/v1/accounts', { token: customer.token, body: {} });
    assert.equal(opened.status, 201, opened.text);
    const { accountNo } = opened.body;
    const deposit = await http('POST', `/api/v1/accounts/${accountNo}/deposits`, {
      token: customer.token,
      body: { amount: 10_000 },
    });
    assert.equal(deposit.status, 202, deposit.text);
    const settled = await pollUntil(
      () => http('GET', `/api/v1/deposits/${deposit.body.depositId}`, { token: customer.token }),
      (answer) => answer.body?.status !== 'PENDING',
    );
    assert.equal(settled.body.status, 'COMPLETED', settled.text);
    const paid = await http('POST', '/api/v1/payments', {
      token: customer.token,
      body: { accountNo, cashAmount: 1_500, pointAmount: 0 },
    });
    assert.equal(paid.status, 202, paid.text);
    const payment = await pollUntil(
      () => http('GET', `/api/v1/payments/${paid.body.paymentId}`, { token: customer.token }),
      (answer) => answer.body?.status !== 'PENDING',
    );
    assert.equal(payment.body.status, 'COMPLETED', payment.text);

    const payments = await admin('GET', '/api/v1/admin/payments');
    assert.equal(payments.status, 200, payments.text);
    assert.deepEqual(payments.body, { byStatus: { PENDING: 0, COMPLETED: 1, FAILED: 0 }, stuck: [] });

    const reconciliation = await admin('POST', '/api/v1/admin/reconciliations');
    assert.equal(reconciliation.status, 200, reconciliation.text);
    assert.equal(reconciliation.body.ok, true, reconciliation.text);
    assert.ok(!Number.isNaN(Date.parse(reconciliation.body.ranAt)));
    const sections = reconciliation.body.services.map((section: { service: string }) => section.service);
    for (const service of ['core-payment', 'point', 'coupon']) assert.ok(sections.includes(service), service);
    for (const section of reconciliation.body.services) {
      assert.ok(section.checks.length > 0, section.service);
      for (const check of section.checks) assert.equal(check.ok, true, `${section.service}: ${check.name}`);
    }
  });
});

describe('dead letters', () => {
  test('when a consumer dead-letters a message, then it is listed, replayed once, and a second replay is skipped', async () => {
    const prefix = system.env.NURI_KAFKA_TOPIC_PREFIX ?? '';
    const producer = createEventProducer({
      brokers: kafkaBrokerList(loadCliConfig(system.env)),
      clientId: 'e2e-admin',
    });
    try {
      // Not JSON: core-payment's deposits consumer cannot handle it and dead-letters it.
      await producer.sendRaw([
        { topic: `${prefix}deposit.requested`, key: '110-234-567890', value: '{"not json' },
      ]);
    } finally {
      await producer.close();
    }
    const listed = await pollUntil(
      () => adminRetryingBroker('GET', '/api/v1/admin/dlq?limit=50'),
      (answer) => answer.body?.items?.length > 0,
    );
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.body.items.length, 1, listed.text);
    const [letter] = listed.body.items;
    assert.equal(letter.topic, `${prefix}deposit.requested`);
    assert.match(
      letter.ref,
      new RegExp(`^${prefix.replaceAll('.', '\\.')}deposit\\.requested\\.dlq/\\d+/\\d+$`),
    );
    assert.equal(letter.group, system.env.NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID);
    assert.equal(letter.eventId, null, 'not an event');
    assert.equal(letter.replayedAt, null);
    assert.ok(letter.error.length > 0 && letter.error.length <= 300);
    assert.ok(!Number.isNaN(Date.parse(letter.failedAt)));
    assert.deepEqual(listed.body.byTopic, [{ topic: `${prefix}deposit.requested`, count: 1 }]);

    const both = await admin('POST', '/api/v1/admin/dlq/replays', { refs: [letter.ref], all: true });
    assert.equal(both.status, 400, 'refs or all, not both');
    assert.equal(both.body.code, 'VALIDATION_FAILED');
    const unknown = await admin('POST', '/api/v1/admin/dlq/replays', {
      refs: [`${prefix}deposit.requested.dlq/0/999999`],
    });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.body.code, 'DEAD_LETTER_NOT_FOUND');

    const key = `e2e-${randomBytes(6).toString('hex')}`;
    const replayed = await admin(
      'POST',
      '/api/v1/admin/dlq/replays',
      { refs: [letter.ref] },
      { 'idempotency-key': key },
    );
    assert.equal(replayed.status, 200, replayed.text);
    assert.deepEqual(replayed.body, { replayed: [letter.ref], skipped: [] });
    const sameKey = await admin(
      'POST',
      '/api/v1/admin/dlq/replays',
      { refs: [letter.ref] },
      { 'idempotency-key': key },
    );
    assert.equal(sameKey.status, 200);
    assert.equal(sameKey.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(sameKey.body, replayed.body, 'the first answer again');

    const marked = await adminRetryingBroker('GET', '/api/v1/admin/dlq');
    const after = marked.body.items.find((item: { ref: string }) => item.ref === letter.ref);
    assert.ok(!Number.isNaN(Date.parse(after?.replayedAt ?? '')), 'the letter says when it was replayed');
    const again = await adminRetryingBroker('POST', '/api/v1/admin/dlq/replays', { refs: [letter.ref] });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body, { replayed: [], skipped: [letter.ref] }, 'replayed once unless again');
    // Sent back to its topic, the same bytes fail again: a new letter, proof that it was replayed for real.
    const relisted = await pollUntil(
      () => adminRetryingBroker('GET', '/api/v1/admin/dlq'),
      (answer) => answer.body?.items?.length >= 2,
    );
    assert.equal(relisted.body.items.length, 2, relisted.text);
    assert.equal(relisted.body.items[0].replayedAt, null, 'the newest first: the letter of the replay');
  });
});

describe('rate limits', () => {
  test('when a limiter refuses a client, then its refusals of the last hour are counted', async () => {
    let refused = 0;
    for (let attempt = 0; attempt < healthLimitPerMinute * 2 && refused === 0; attempt += 1) {
      const answer = await fetch(`${base}/health`);
      await answer.arrayBuffer();
      if (answer.status === 429) refused += 1;
    }
    assert.ok(refused > 0, 'GET /health was limited');
    const answer = await admin('GET', '/api/v1/admin/rate-limits');
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.windowSeconds, 3600);
    const counts = new Map(
      answer.body.items.map((item: { limiter: string; refusals: number }) => [item.limiter, item.refusals]),
    );
    assert.deepEqual([...counts.keys()].sort(), ['general', 'health', 'login', 'signup']);
    assert.ok((counts.get('health') as number) >= 1, answer.text);
  });
});

describe('coupon campaigns', () => {
  test('when a campaign is created, then the admin list shows it first with its stock', async () => {
    const created = await http('POST', '/api/v1/admin/coupon-campaigns', {
      token: adminToken,
      body: { name: 'Console week', quantity: 25 },
    });
    assert.equal(created.status, 201, created.text);
    const missing = await http('GET', '/api/v1/admin/coupon-campaigns');
    assert.equal(missing.status, 401, 'coupon checks the admin token too');
    const listed = await admin('GET', '/api/v1/admin/coupon-campaigns');
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.body.items[0], {
      campaignId: created.body.campaignId,
      name: 'Console week',
      quantity: 25,
      remaining: 25,
      issued: 0,
      startsAt: null,
      endsAt: null,
    });
  });
});

describe('a restarted instance', () => {
  test('when an instance is killed and restarted, then its new process is listed with one restart', async () => {
    const before = system.supervisor.status('core-user');
    system.supervisor.signal('core-user', 'SIGKILL');
    await pollUntil(
      async () => system.supervisor.status('core-user'),
      (status) => status.pid !== before.pid && status.pid !== undefined,
    );
    await system.waitUntilReady('core-user', settleTimeoutMs);
    const restartedPid = system.supervisor.status('core-user').pid;
    const listed = await pollUntil(
      () => admin('GET', '/api/v1/admin/services'),
      (answer) =>
        answer.body?.items?.find((item: { service: string }) => item.service === 'core-user')?.instances[0]
          ?.pid === restartedPid,
    );
    const coreUser = listed.body.items.find((item: { service: string }) => item.service === 'core-user');
    assert.equal(coreUser.ready, 1, listed.text);
    assert.equal(coreUser.instances[0].pid, restartedPid);
    assert.equal(coreUser.instances[0].restarts, 1);
  });
});

test('when every admin answer is read, then none carries the customer name, RRN or phone', () => {
  assert.ok(adminAnswers.length > 10);
  const phoneDigits = customerPhone.replaceAll('-', '');
  for (const text of adminAnswers) {
    assert.equal(text.includes(customerName), false);
    assert.equal(text.includes(customerRrn) || text.includes(customerRrn.replace('-', '')), false);
    assert.equal(text.includes(customerPhone) || text.includes(phoneDigits), false);
  }
});

test('when the console has read every report, then the gateway holds no connection to a core service', async () => {
  // Every admin route has run above (core reports and instances included):
  // whatever the gateway knows of the core came through channel-user.
  const gatewayPid = system.supervisor.status('gateway').pid;
  assert.ok(gatewayPid !== undefined);
  const corePorts = ['core-user', 'core-payment'].map((name) => {
    const spec = serviceSpecs.find((service) => service.name === name)!;
    return Number(system.env[spec.portVariable]);
  });
  const { execFileSync } = await import('node:child_process');
  const sockets = execFileSync('ss', ['-tnpH', 'state', 'all'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(`pid=${gatewayPid},`));
  assert.ok(sockets.length > 0, 'the gateway has sockets (its listeners and channel connections)');
  const toCore = sockets.filter((line) =>
    corePorts.some((port) => new RegExp(`\\s127\\.0\\.0\\.1:${port}\\s`).test(line)),
  );
  assert.deepEqual(toCore, []);
});
