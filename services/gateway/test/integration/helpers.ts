import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AccessTokenVerifier,
  accessTokenAudience,
  accessTokenIssuer,
  createRemoteAccessTokenVerifier,
} from '@nuri/platform/access-token';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { createRedis, type Redis } from '@nuri/platform/redis';
import { createUpstream, type Upstream } from '@nuri/platform/upstream';
import { SignJWT } from 'jose';
import { type AppDeps, buildApp } from '../../src/app.ts';
import type { ChannelServiceName, ServiceName } from '../../src/config.ts';
import { createKeyScope, type KeyScope } from '../../src/key-scope.ts';
import { createRateLimiter } from '../../src/rate-limit.ts';

export const silentLogger = createLogger({ name: 'gateway-test', level: 'silent' });

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Answer = {
  status: number;
  body?: string;
  contentType?: string;
  delayMs?: number;
  headers?: Record<string, string | string[]>;
};

/** An upstream stand-in that records what reached it and answers as scripted; readiness probes pass unrecorded. */
export interface FakeUpstream {
  url: string;
  seen: Seen[];
  answer: (seen: Seen) => Answer;
  /** While false, /health/ready is answered like any other request (tests of readiness). */
  ready: boolean;
  close(): Promise<void>;
}

export async function startUpstream(name: string): Promise<FakeUpstream> {
  const fake: FakeUpstream = {
    url: '',
    seen: [],
    answer: () => ({ status: 200, body: JSON.stringify({ from: name }), contentType: 'application/json' }),
    ready: true,
    close: async () => undefined,
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      if (request.url === '/health/ready' && fake.ready) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      const seen = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      };
      fake.seen.push(seen);
      const answer = fake.answer(seen);
      if (answer.delayMs !== undefined) await sleep(answer.delayMs);
      if (response.destroyed) return;
      response.writeHead(answer.status, {
        ...(answer.contentType === undefined ? {} : { 'content-type': answer.contentType }),
        ...answer.headers,
      });
      response.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return fake;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

export function newSigningKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' } };
}

export function randomUserUuid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

export async function signToken(
  key: SigningKey,
  userUuid: string,
  overrides: { audience?: string; issuer?: string; expiresInSeconds?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1_000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
    .setSubject(userUuid)
    .setIssuer(overrides.issuer ?? accessTokenIssuer)
    .setAudience(overrides.audience ?? accessTokenAudience)
    .setIssuedAt(now - 60)
    .setExpirationTime(now + (overrides.expiresInSeconds ?? 900))
    .setJti(randomBytes(8).toString('hex'))
    .sign(key.privateKey);
}

export interface TestGateway {
  app: ReturnType<typeof buildApp>;
  upstreams: Record<ChannelServiceName, FakeUpstream>;
  /** The gateway's view of every service, as GET /health reports it. */
  services: Record<ServiceName, Upstream>;
  keys: SigningKey[];
  redis: Redis;
  close(): Promise<void>;
}

export interface GatewayOptions {
  ipMax?: number;
  userMax?: number;
  /** Per IP per minute. */
  signupMax?: number;
  loginMax?: number;
  healthMax?: number;
  upstreamTimeoutMs?: number;
  verifier?: AccessTokenVerifier;
  trustedProxyHops?: number;
  /** The public listener's port, when the test listens for real (operational routes are refused there). */
  publicPort?: number;
  /** The operator console's API over this gateway's upstreams and Redis (routes/admin.ts); absent: none. */
  admin?: (parts: { services: Record<ServiceName, Upstream>; redis: Redis }) => AppDeps['admin'];
  /** Idempotency-Key claims (key-scope.ts); absent: on this Redis under a prefix of the test's own. */
  keyScope?: KeyScope;
}

/**
 * The gateway app on real Redis with fake channel services; channel-user's
 * fake serves a JWKS that tests may change (key rotation).
 */
export async function startGateway(options: GatewayOptions = {}): Promise<TestGateway> {
  const channelUser = await startUpstream('channel-user');
  const point = await startUpstream('point');
  const coupon = await startUpstream('coupon');
  const keys = [newSigningKey('k1')];
  const forwardByDefault = channelUser.answer;
  channelUser.answer = (seen) =>
    seen.url === '/.well-known/jwks.json'
      ? {
          status: 200,
          body: JSON.stringify({ keys: keys.map((key) => key.jwk) }),
          contentType: 'application/json',
        }
      : forwardByDefault(seen);
  const upstreams = { 'channel-user': channelUser, point, coupon };
  const redis = createRedis({ url: 'redis://127.0.0.1:6379', name: 'gateway-test' });
  const upstreamOf = (name: string, urls: string[]) =>
    createUpstream({
      name,
      urls,
      connectionsMax: 8,
      attemptTimeoutMs: options.upstreamTimeoutMs ?? 2_000,
      requestDeadlineMs: options.upstreamTimeoutMs ?? 2_000,
      probe: { intervalMs: 200, timeoutMs: 500 },
    });
  const services: Record<ServiceName, Upstream> = {
    'channel-user': upstreamOf('channel-user', [channelUser.url]),
    point: upstreamOf('point', [point.url]),
    coupon: upstreamOf('coupon', [coupon.url]),
    // No core behind this gateway: its health entries probe channel-user's fake.
    'core-user': upstreamOf('core-user', [channelUser.url]),
    'core-payment': upstreamOf('core-payment', [channelUser.url]),
  };
  const rateLimiter = createRateLimiter({
    redis,
    logger: silentLogger,
    ipMax: options.ipMax ?? 1_000_000,
    userMax: options.userMax ?? 1_000_000,
    windowMs: 1_000,
    syncIntervalMs: 20,
    // Counts of its own: other test processes also call from 127.0.0.1.
    keyPrefix: `rl-test-${randomBytes(4).toString('hex')}`,
  });
  const perMinute = (name: string, ipMax: number) =>
    createRateLimiter({
      redis,
      logger: silentLogger,
      ipMax,
      userMax: Number.MAX_SAFE_INTEGER,
      windowMs: 60_000,
      syncIntervalMs: 20,
      keyPrefix: `rl-test-${name}-${randomBytes(4).toString('hex')}`,
    });
  const routeLimiters = {
    signup: perMinute('signup', options.signupMax ?? 1_000_000),
    login: perMinute('login', options.loginMax ?? 1_000_000),
    health: perMinute('health', options.healthMax ?? 1_000_000),
  };
  const admin = options.admin?.({ services, redis });
  const app = buildApp({
    ...(admin === undefined ? {} : { admin }),
    routeLimiters,
    trustedProxyHops: options.trustedProxyHops ?? 0,
    ...(options.publicPort === undefined ? {} : { publicPort: options.publicPort }),
    logger: silentLogger,
    metrics: createMetrics('gateway-test'),
    redis,
    services,
    verifier:
      options.verifier ??
      createRemoteAccessTokenVerifier({
        jwksUrls: [`${channelUser.url}/.well-known/jwks.json`],
        refetchCooldownMs: 0,
      }),
    rateLimiter,
    keyScope:
      options.keyScope ??
      createKeyScope({
        redis,
        logger: silentLogger,
        keyPrefix: `idem-test-${randomBytes(4).toString('hex')}`,
      }),
  });
  await app.ready();
  return {
    app,
    upstreams,
    services,
    keys,
    redis,
    async close() {
      await app.close();
      await Promise.all(Object.values(services).map((upstream) => upstream.close()));
      await rateLimiter.close();
      await Promise.all(Object.values(routeLimiters).map((limiter) => limiter.close()));
      await Promise.all(Object.values(upstreams).map((upstream) => upstream.close()));
      redis.disconnect();
    },
  };
}
