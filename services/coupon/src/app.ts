import { randomBytes } from 'node:crypto';
import type { AccessTokenVerifier } from '@nuri/platform/access-token';
import type { Database } from '@nuri/platform/db';
import { createHttpApp } from '@nuri/platform/http';
import { uuidv7 } from '@nuri/platform/ids';
import type { InternalCallers } from '@nuri/platform/internal-auth';
import { createBrokerProbe } from '@nuri/platform/kafka/admin';
import type { Logger } from '@nuri/platform/logger';
import type { Metrics } from '@nuri/platform/metrics';
import { serveOpenApi } from '@nuri/platform/openapi';
import { type Redis, redisReadinessCheck } from '@nuri/platform/redis';
import { createCampaignRepository } from './db/campaigns-repository.ts';
import { createCouponRepository } from './db/coupons-repository.ts';
import type { ServiceDb } from './db/database.ts';
import { type CampaignService, createCampaignService, type IssuedCoupon } from './domain/campaigns.ts';
import { newCouponCode } from './domain/coupon-code.ts';
import { createRebuilder } from './domain/rebuild.ts';
import type { CouponMetrics } from './metrics.ts';
import { couponCounters } from './metrics.ts';
import { createCampaignStore } from './redis/campaign-store.ts';
import { createAdminAuthenticator, createUserAuthenticator } from './routes/auth.ts';
import { registerCampaignRoutes } from './routes/campaigns.ts';
import { registerOperationRoutes } from './routes/operations.ts';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  couponMetrics: CouponMetrics;
  database: Database<ServiceDb>;
  kafkaBrokers: string[];
  redis: Redis;
  accessTokens: AccessTokenVerifier;
  adminToken: string;
  /** Kafka hand-off of coupon.issued (events/hand-off.ts). */
  handOff: { handOff(coupon: IssuedCoupon, correlationId: string): Promise<void> };
  /** The core's count of recorded coupons, for rebuilds. */
  core: { countRecorded(campaignId: string): Promise<number> };
  /** When the coupon.issued mirror has caught up with the topic, for rebuilds. */
  mirror: { waitUntilCaughtUp(timeoutMs: number): Promise<void> };
  rebuild: { settleMs: number; timeoutMs: number; requestWaitMs: number };
  /** NURI_INTERNAL_CALLERS: guard /internal/* (and nothing else). */
  internalCallers: InternalCallers;
  /** NURI_COUPON_RECOVERY_GRACE_MS: pending coupons younger than this are in flight, not missing. */
  recoveryGraceMs: number;
}

const readinessTimeoutMs = 1_000;

/** The coupon HTTP app; never listens (server.ts does, and runs the consumers and the recovery job). */
export function buildApp(deps: AppDeps) {
  const brokerProbe = createBrokerProbe(deps.kafkaBrokers, 'coupon-readiness');
  const app = createHttpApp({
    name: 'coupon',
    logger: deps.logger,
    metrics: deps.metrics,
    readinessChecks: {
      database: () => deps.database.ping(),
      redis: () => redisReadinessCheck(deps.redis),
    },
    // Kafka is shown, not gating: without the broker an issue answers 503 COUPON_UNAVAILABLE on its own,
    // while campaign pages and a user's coupons keep working.
    reportedChecks: { kafka: () => brokerProbe.check(readinessTimeoutMs) },
  });
  app.addHook('onClose', () => brokerProbe.close());
  // Before any route: the gateway merges this document into GET /openapi.json.
  serveOpenApi(app, { title: 'coupon' });
  acceptEmptyJsonBodies(app);
  const campaigns = buildCampaignService(deps);
  registerCampaignRoutes(app, {
    campaigns,
    authenticate: createUserAuthenticator(deps.accessTokens),
    authenticateAdmin: createAdminAuthenticator(deps.adminToken),
  });
  registerOperationRoutes(app, {
    internalCallers: deps.internalCallers,
    reconciliation: {
      campaigns: createCampaignRepository(deps.database.db),
      live: createCampaignStore(deps.redis),
      core: deps.core,
      logger: deps.logger,
      graceMs: deps.recoveryGraceMs,
    },
  });
  return app;
}

/** The use cases wired to Redis, MySQL, Kafka and the core. */
export function buildCampaignService(deps: AppDeps): CampaignService {
  const store = createCampaignStore(deps.redis);
  const coupons = createCouponRepository(deps.database.db);
  const rebuilder = createRebuilder({
    live: store,
    mirrored: coupons,
    mirror: deps.mirror,
    core: deps.core,
    onRebuilt: (campaignId, _issued, remaining) => {
      deps.couponMetrics.rebuilt.inc();
      deps.couponMetrics.stock.set({ campaign_id: campaignId }, Math.max(0, remaining));
    },
    logger: deps.logger,
    newToken: () => randomBytes(16).toString('hex'),
    ...deps.rebuild,
  });
  return createCampaignService({
    definitions: createCampaignRepository(deps.database.db),
    live: store,
    handOff: deps.handOff,
    mirrored: coupons,
    rebuilder,
    counters: couponCounters(deps.couponMetrics),
    logger: deps.logger,
    newId: () => uuidv7(),
    newCode: newCouponCode,
  });
}

// `POST …/issue` has no body, and clients often send `Content-Type:
// application/json` with nothing after it anyway. An empty body reaches the
// route as undefined; routes that need a body still fail their schema (400).
function acceptEmptyJsonBodies(app: ReturnType<typeof createHttpApp>): void {
  // Fastify's own parser keeps its prototype-poisoning protection and error codes.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
