// The issue-route ceiling: a Fastify server, its own process like a service,
// whose one route only runs the coupon issue script through coupon's own
// campaign store — no token check, no Kafka hand-off, no logger, no database.
// What the coupon service's issue route could answer if the script were all
// it did. It listens on a free port and tells its parent which one.
//
//   node bench/suite/issue-route-server.ts <redis url>
import { uuidv7 } from '@nuri/platform/ids';
import { createRedis } from '@nuri/platform/redis';
import Fastify from 'fastify';
import { createCampaignStore } from '../../services/coupon/src/redis/campaign-store.ts';

const redisUrl = process.argv[2];
if (redisUrl === undefined) throw new Error('usage: issue-route-server.ts <redis url>');
const redis = createRedis({ url: redisUrl, name: 'bench-issue-route', commandTimeoutMs: 10_000 });
const store = createCampaignStore(redis);
const app = Fastify({ logger: false });
app.post<{ Params: { campaignId: string } }>('/issue/:campaignId', async (request, reply) => {
  const decision = await store.issue(request.params.campaignId, {
    userUuid: String(request.headers['x-user']),
    couponId: uuidv7(),
    code: 'BENC-HMAR-KCOD',
  });
  const status = decision.outcome === 'ISSUED' ? 201 : decision.outcome === 'SOLD_OUT' ? 410 : 409;
  return reply.code(status).send({ outcome: decision.outcome });
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => redis.quit())
    .then(() => process.exit(0));
});
// The suite gone (its IPC channel closed) means nobody will stop this server.
process.once('disconnect', () => process.exit(0));
