import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EventOf } from '@nuri/contracts/events';
import type { EventProducer } from '@nuri/platform/kafka/producer';
import { campaignKeys } from '../../src/redis/campaign-store.ts';
import {
  adminAuth,
  createTestDatabase,
  createTopics,
  issue,
  newProducer,
  newUser,
  removeTopics,
  startCoupon,
  startTopicReader,
  type TestCoupon,
  uniqueTopics,
  waitUntil,
} from './helpers.ts';

const uuidv7Pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('coupon campaigns API', { timeout: 60_000 }, () => {
  const topics = uniqueTopics('api');
  let testDatabase: Awaited<ReturnType<typeof createTestDatabase>>;
  let producer: EventProducer;
  let coupon: TestCoupon;

  before(async () => {
    testDatabase = await createTestDatabase('api');
    await createTopics(topics);
    producer = newProducer('coupon-test-api');
    coupon = await startCoupon({ database: testDatabase.database, topics, producer });
  });
  after(async () => {
    await coupon?.close();
    await producer?.close();
    await removeTopics(topics);
    await testDatabase?.drop();
  });

  async function userHeaders(userUuid = newUser()) {
    return { authorization: `Bearer ${await coupon.tokenFor(userUuid)}` };
  }

  describe('admin auth and validation', () => {
    const validBody = { name: 'Autumn rush', quantity: 10 };

    it('when the admin token is missing, then 401 UNAUTHENTICATED', async () => {
      const response = await coupon.app.inject({
        method: 'POST',
        url: '/api/v1/admin/coupon-campaigns',
        payload: validBody,
      });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().code, 'UNAUTHENTICATED');
      assert.match(String(response.headers['content-type']), /application\/problem\+json/);
    });

    it('when the admin token is wrong (even a valid user token), then 403 FORBIDDEN', async () => {
      for (const authorization of ['Bearer not-the-admin-token', (await userHeaders()).authorization]) {
        const response = await coupon.app.inject({
          method: 'POST',
          url: '/api/v1/admin/coupon-campaigns',
          headers: { authorization },
          payload: validBody,
        });
        assert.equal(response.statusCode, 403);
        assert.equal(response.json().code, 'FORBIDDEN');
      }
    });

    it('when the body breaks a rule, then 400 VALIDATION_FAILED and nothing is created', async () => {
      const invalidBodies = [
        { quantity: 10 },
        { name: '', quantity: 10 },
        { name: 'x'.repeat(101), quantity: 10 },
        { name: 'n', quantity: 0 },
        { name: 'n', quantity: 10_000_001 },
        { name: 'n', quantity: 1.5 },
        { name: 'n', quantity: '10' },
        { name: 'n', quantity: 10, startsAt: 'tomorrow' },
        { name: 'n', quantity: 10, startsAt: '2030-01-02T00:00:00Z', endsAt: '2030-01-01T00:00:00Z' },
        { name: 'n', quantity: 10, startsAt: '2030-01-01T00:00:00Z', endsAt: '2030-01-01T00:00:00Z' },
        // Year 10000 in UTC, past what MariaDB's datetime holds (was a 500); and year 0.
        { name: 'n', quantity: 10, endsAt: '9999-12-31T23:59:59-10:00' },
        { name: 'n', quantity: 10, startsAt: '0000-01-01T00:00:00Z' },
      ];
      const before = await testDatabase.database.db.selectFrom('campaigns').select('campaign_id').execute();
      for (const payload of invalidBodies) {
        const response = await coupon.app.inject({
          method: 'POST',
          url: '/api/v1/admin/coupon-campaigns',
          headers: adminAuth,
          payload,
        });
        assert.equal(response.statusCode, 400, JSON.stringify(payload));
        assert.equal(response.json().code, 'VALIDATION_FAILED');
      }
      const afterRows = await testDatabase.database.db
        .selectFrom('campaigns')
        .select('campaign_id')
        .execute();
      assert.equal(afterRows.length, before.length);
    });

    it('when an admin lists the campaigns, then the newest come first with their live stock; anyone else is refused', async () => {
      const create = async (name: string, quantity: number) =>
        (
          await coupon.app.inject({
            method: 'POST',
            url: '/api/v1/admin/coupon-campaigns',
            headers: adminAuth,
            payload: { name, quantity },
          })
        ).json();
      const older = await create('Listed first', 5);
      const newer = await create('Listed second', 7);
      const list = (query: string, headers: Record<string, string> = adminAuth) =>
        coupon.app.inject({ method: 'GET', url: `/api/v1/admin/coupon-campaigns${query}`, headers });
      const listed = await list('?limit=2');
      assert.equal(listed.statusCode, 200, listed.body);
      assert.deepEqual(
        listed
          .json()
          .items.map((item: { campaignId: string; remaining: number; issued: number }) => [
            item.campaignId,
            item.remaining,
            item.issued,
          ]),
        [
          [newer.campaignId, 7, 0],
          [older.campaignId, 5, 0],
        ],
      );
      assert.equal((await list('', {})).statusCode, 401);
      assert.equal(
        (await list('', await userHeaders())).statusCode,
        403,
        'a user token is not the admin token',
      );
      assert.equal((await list('?limit=101')).statusCode, 400);
      assert.equal((await list('?limit=0')).statusCode, 400);
    });

    it('when the body is valid, then 201 with the campaign, stored in MySQL and live in Redis', async () => {
      const response = await coupon.app.inject({
        method: 'POST',
        url: '/api/v1/admin/coupon-campaigns',
        headers: adminAuth,
        payload: {
          name: '첫눈 쿠폰',
          quantity: 1_000,
          startsAt: '2020-01-01T00:00:00+09:00',
          endsAt: '2099-01-01T00:00:00Z',
        },
      });
      assert.equal(response.statusCode, 201);
      const campaign = response.json();
      assert.match(campaign.campaignId, uuidv7Pattern);
      assert.deepEqual(campaign, {
        campaignId: campaign.campaignId,
        name: '첫눈 쿠폰',
        quantity: 1_000,
        remaining: 1_000,
        issued: 0,
        startsAt: '2019-12-31T15:00:00.000Z',
        endsAt: '2099-01-01T00:00:00.000Z',
      });
      const row = await testDatabase.database.db
        .selectFrom('campaigns')
        .selectAll()
        .where('campaign_id', '=', campaign.campaignId)
        .executeTakeFirstOrThrow();
      assert.equal(row.quantity, 1_000);
      const meta = await coupon.redis.hgetall(campaignKeys(campaign.campaignId).meta);
      assert.deepEqual(meta, {
        quantity: '1000',
        remaining: '1000',
        startsAt: String(Date.parse('2019-12-31T15:00:00Z')),
        endsAt: String(Date.parse('2099-01-01T00:00:00Z')),
      });
      await coupon.redis.del(...Object.values(campaignKeys(campaign.campaignId)));
    });
  });

  describe('user routes', () => {
    it('when no or a bad access token is sent, then 401 UNAUTHENTICATED on every user route', async () => {
      const { campaignId } = await coupon.createCampaign({ name: 'auth', quantity: 5 });
      const forged = `${(await coupon.tokenFor(newUser())).slice(0, -4)}AAAA`;
      for (const headers of [
        {},
        { authorization: 'Bearer nonsense' },
        { authorization: `Bearer ${forged}` },
      ]) {
        for (const [method, url] of [
          ['GET', `/api/v1/coupon-campaigns/${campaignId}`],
          ['POST', `/api/v1/coupon-campaigns/${campaignId}/issue`],
          ['GET', '/api/v1/coupons'],
        ] as const) {
          const response = await coupon.app.inject({ method, url, headers });
          assert.equal(response.statusCode, 401, `${method} ${url}`);
          assert.equal(response.json().code, 'UNAUTHENTICATED');
        }
      }
      const stock = await coupon.store.readStock(campaignId);
      assert.equal(stock?.remaining, 5);
    });

    it('when the campaign does not exist (or the id is malformed), then 404 CAMPAIGN_NOT_FOUND', async () => {
      const headers = await userHeaders();
      for (const campaignId of ['0190a000-0000-7000-8000-000000000000', 'not-a-uuid', '{x}']) {
        const url = `/api/v1/coupon-campaigns/${encodeURIComponent(campaignId)}`;
        const get = await coupon.app.inject({ method: 'GET', url, headers });
        assert.equal(get.statusCode, 404);
        assert.equal(get.json().code, 'CAMPAIGN_NOT_FOUND');
        const post = await coupon.app.inject({ method: 'POST', url: `${url}/issue`, headers });
        assert.equal(post.statusCode, 404);
        assert.equal(post.json().code, 'CAMPAIGN_NOT_FOUND');
      }
    });

    it('when the campaign has not started or has ended, then 409 CAMPAIGN_NOT_ACTIVE and no stock moves', async () => {
      const hour = 3_600_000;
      const future = await coupon.createCampaign({
        name: 'later',
        quantity: 3,
        startsAt: new Date(Date.now() + hour).toISOString(),
      });
      const past = await coupon.createCampaign({
        name: 'over',
        quantity: 3,
        startsAt: new Date(Date.now() - 2 * hour).toISOString(),
        endsAt: new Date(Date.now() - hour).toISOString(),
      });
      for (const { campaignId } of [future, past]) {
        const response = await issue(coupon, campaignId, await coupon.tokenFor(newUser()));
        assert.equal(response.statusCode, 409);
        assert.equal(response.json().code, 'CAMPAIGN_NOT_ACTIVE');
        assert.equal(response.json().couponId, undefined);
        assert.equal((await coupon.store.readStock(campaignId))?.remaining, 3);
      }
    });

    it('when a user claims a coupon, then 201, coupon.issued on Kafka, the campaign counts it, the list shows it, and a second claim is 409 ALREADY_ISSUED naming it', async () => {
      const reader = await startTopicReader(topics.couponIssued);
      const { campaignId } = await coupon.createCampaign({ name: 'one each', quantity: 5 });
      const userUuid = newUser();
      const headers = await userHeaders(userUuid);

      // An empty JSON body is what many clients send for "no body".
      const first = await coupon.app.inject({
        method: 'POST',
        url: `/api/v1/coupon-campaigns/${campaignId}/issue`,
        headers: { ...headers, 'content-type': 'application/json' },
      });
      assert.equal(first.statusCode, 201, first.body);
      const issued = first.json();
      assert.match(issued.couponId, uuidv7Pattern);
      assert.equal(issued.campaignId, campaignId);
      assert.match(issued.code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
      assert.ok(Math.abs(Date.parse(issued.issuedAt) - Date.now()) < 5_000);

      const list = await coupon.app.inject({ method: 'GET', url: '/api/v1/coupons', headers });
      assert.equal(list.statusCode, 200);
      assert.deepEqual(list.json(), { items: [issued] });
      const otherList = await coupon.app.inject({
        method: 'GET',
        url: '/api/v1/coupons',
        headers: await userHeaders(),
      });
      assert.deepEqual(otherList.json(), { items: [] });

      const campaign = await coupon.app.inject({
        method: 'GET',
        url: `/api/v1/coupon-campaigns/${campaignId}`,
        headers,
      });
      assert.equal(campaign.statusCode, 200);
      assert.equal(campaign.json().remaining, 4);
      assert.equal(campaign.json().issued, 1);
      assert.equal(campaign.json().startsAt, null);
      assert.equal(campaign.json().endsAt, null);

      const second = await issue(coupon, campaignId, headers.authorization.slice(7));
      assert.equal(second.statusCode, 409);
      assert.equal(second.json().code, 'ALREADY_ISSUED');
      assert.equal(second.json().couponId, issued.couponId);

      await waitUntil('coupon.issued on Kafka', () => reader.received.length >= 1, 15_000);
      await reader.stop();
      const events = reader.events<EventOf<'coupon.issued'>>();
      assert.equal(events.length, 1);
      assert.equal(reader.received[0]!.key, campaignId);
      assert.deepEqual(events[0]!.data, { ...issued, userUuid });
      assert.equal(events[0]!.source, 'coupon');

      const metrics = await coupon.app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /nuri_coupon_issued_total\{[^}]*\} 1\n/);
      assert.match(metrics.body, /nuri_coupon_duplicate_total\{[^}]*\} 1\n/);
      assert.match(
        metrics.body,
        new RegExp(`nuri_coupon_stock_remaining\\{[^}]*campaign_id="${campaignId}"[^}]*\\} 4\\n`),
      );
    });
  });
});
