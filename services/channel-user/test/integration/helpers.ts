import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createPgDatabase,
  type Database,
  dropPgDatabase,
  ensurePgDatabase,
  migrateToLatest,
} from '@nuri/platform/db';
import { createLogger } from '@nuri/platform/logger';
import { createMetrics } from '@nuri/platform/metrics';
import { databaseUrl } from '@nuri/platform/service';
import { uniqueName, waitUntil } from '@nuri/platform/testing';
import { buildApp } from '../../src/app.ts';
import { createAccessTokenIssuer } from '../../src/auth/access-tokens.ts';
import { parseSigningKeys } from '../../src/auth/signing-keys.ts';
import { type CoreClient, createCoreClient } from '../../src/clients/core-client.ts';
import { createCoreLedger } from '../../src/clients/core-payment-client.ts';
import { createUserRegistry } from '../../src/clients/core-user-client.ts';
import type { ServiceDb } from '../../src/db/database.ts';
import { migrations } from '../../src/db/migrations.ts';

export const pgAdminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
export const brokers = ['127.0.0.1:9092'];
/** This service's own token (what it presents to the core). */
export const internalToken = 'test-internal-token-0123456789abcdefghijklmnop';
/** The tokens of the callers it accepts. */
export const pointToken = 'test-point-token-0123456789abcdefghijklmnopqrstu';
export const opsToken = 'test-ops-token-0123456789abcdefghijklmnopqrstuvw';
export const gatewayToken = 'test-gateway-token-0123456789abcdefghijklmnopqr';
export const silentLogger = createLogger({
  name: 'channel-user-test',
  level: (process.env.DBG ? 'debug' : 'silent') as 'silent',
});

export function uniqueLoginId(): string {
  return `u_${randomBytes(6).toString('hex')}`;
}

export function signingKeyEnv(kid = 'k1'): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return `${kid}:${privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64url')}`;
}

export type FakeHandler = (request: {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: IncomingMessage['headers'];
}) => FakeAnswer | Promise<FakeAnswer>;

/** `headers`: extra response headers, e.g. the core's `idempotent-replayed`. */
type FakeAnswer = { status: number; body?: unknown; delayMs?: number; headers?: Record<string, string> };

/**
 * A stand-in core service on an ephemeral port; each test sets `handler` to
 * script its answers. Readiness probes pass unrecorded while `ready` is true;
 * while false they reach the handler like any request.
 */
export interface FakeCore {
  url: string;
  handler: FakeHandler;
  ready: boolean;
  calls: Array<{ method: string; path: string; body: unknown; authorization: string | undefined }>;
  close(): Promise<void>;
}

export async function startFakeCore(handler: FakeHandler = () => ({ status: 500 })): Promise<FakeCore> {
  const fake: FakeCore = { url: '', handler, ready: true, calls: [], close: async () => undefined };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const url = new URL(request.url ?? '/', 'http://fake');
      if (url.pathname === '/health/ready' && fake.ready) {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      const body = text === '' ? undefined : (JSON.parse(text) as unknown);
      fake.calls.push({
        method: request.method ?? '',
        path: url.pathname,
        body,
        authorization: request.headers.authorization,
      });
      const answer = await fake.handler({
        method: request.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        body,
        headers: request.headers,
      });
      if (answer.delayMs !== undefined) await sleep(answer.delayMs);
      if (response.destroyed) return;
      response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      response.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
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

export function problem(status: number, code: string) {
  return { status, body: { type: 'x', title: 'x', status, code, detail: code.toLowerCase(), traceId: 't' } };
}

export interface TestService {
  name: string;
  database: Database<ServiceDb>;
  app: ReturnType<typeof buildApp>;
  coreUser: FakeCore;
  corePayment: FakeCore;
  coreClients: { user: CoreClient; payment: CoreClient };
  issuer: ReturnType<typeof createAccessTokenIssuer>;
  depositRequestedTopic: string;
  close(): Promise<void>;
}

export interface ServiceOptions {
  coreTimeoutMs?: number;
  breakerOpenMs?: number;
  depositRequestedTopic?: string;
}

/** A throwaway, migrated database, two fake cores and the app on them; close() drops the database. */
export async function startService(prefix: string, options: ServiceOptions = {}): Promise<TestService> {
  const name = uniqueName(`it_cu_${prefix}`).toLowerCase();
  await ensurePgDatabase(pgAdminUrl, name);
  const database = createPgDatabase<ServiceDb>({
    url: databaseUrl(pgAdminUrl, name),
    poolSizeMax: 10,
    connectionTimeoutMs: 5_000,
    statementTimeoutMs: 10_000,
    applicationName: 'channel-user-test',
  });
  await migrateToLatest(database.db, migrations);
  const coreUser = await startFakeCore();
  const corePayment = await startFakeCore();
  const timeoutMs = options.coreTimeoutMs ?? 1_000;
  const clientOptions = {
    internalToken,
    timeoutMs,
    deadlineMs: timeoutMs * 3,
    connectionsMax: 8,
    logger: silentLogger,
    // Short, so that a test that broke the core gets it back quickly (coreBackIn).
    breakerOpenMs: options.breakerOpenMs ?? 100,
    probeIntervalMs: 50,
  };
  const user = createCoreClient({ ...clientOptions, name: 'core-user', urls: [coreUser.url] });
  const payment = createCoreClient({ ...clientOptions, name: 'core-payment', urls: [corePayment.url] });
  const issuer = createAccessTokenIssuer(parseSigningKeys(signingKeyEnv(), 'k1'), 900);
  const depositRequestedTopic = options.depositRequestedTopic ?? uniqueName('it.unused.deposit.requested');
  const app = buildApp({
    logger: silentLogger,
    metrics: createMetrics('channel-user-test'),
    database,
    kafkaBrokers: brokers,
    internalCallers: { point: pointToken, ops: opsToken, gateway: gatewayToken },
    accessTokens: issuer,
    refreshTokenTtlSeconds: 3_600,
    registry: createUserRegistry(user),
    ledger: createCoreLedger(payment),
    depositRequestedTopic,
  });
  await app.ready();
  return {
    name,
    database,
    app,
    coreUser,
    corePayment,
    coreClients: { user, payment },
    issuer,
    depositRequestedTopic,
    async close() {
      await app.close();
      await Promise.all([user.close(), payment.close(), coreUser.close(), corePayment.close()]);
      await database.close();
      await dropPgDatabase(pgAdminUrl, name);
    },
  };
}

/** Waits until the client has an instance in rotation again (a test broke the core, then fixed it). */
export async function coreBackIn(client: CoreClient): Promise<void> {
  await waitUntil('a core instance back in rotation', () => client.readyInstances() > 0, 5_000);
}

export function randomUserUuid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/**
 * A core-user stand-in: reserves by RRN (same RRN and name → same user),
 * confirms and releases reservations, refuses another name against a
 * confirmed one and replaces an unconfirmed one, as core-user does.
 */
export function fakeRegistry(): FakeHandler {
  const byRrn = new Map<string, { userUuid: string; name: string; status: 'RESERVED' | 'CONFIRMED' }>();
  const byUuid = (userUuid: string) => [...byRrn.entries()].find(([, user]) => user.userUuid === userUuid);
  return ({ method, path, body }) => {
    const confirm = /^\/internal\/v1\/users\/([^/]+)\/confirm$/.exec(path);
    if (method === 'POST' && confirm !== null) {
      const found = byUuid(confirm[1]!);
      if (found === undefined) return problem(404, 'USER_NOT_FOUND');
      found[1].status = 'CONFIRMED';
      return { status: 204 };
    }
    const release = /^\/internal\/v1\/users\/([^/]+)\/reservation$/.exec(path);
    if (method === 'DELETE' && release !== null) {
      const found = byUuid(release[1]!);
      if (found !== undefined && found[1].status === 'RESERVED') byRrn.delete(found[0]);
      return { status: 204 };
    }
    if (path !== '/internal/v1/users') return problem(404, 'NOT_FOUND');
    const { name, rrn, phone } = body as { name: string; rrn: string; phone?: string };
    let existing = byRrn.get(rrn);
    if (existing !== undefined && existing.name !== name) {
      if (existing.status === 'CONFIRMED') return problem(409, 'REAL_NAME_MISMATCH');
      existing = undefined;
    }
    const user = existing ?? { userUuid: randomUserUuid(), name, status: 'RESERVED' as const };
    byRrn.set(rrn, user);
    return {
      status: existing === undefined ? 201 : 200,
      body: {
        userUuid: user.userUuid,
        maskedName: `${name[0]}*${name.at(-1)}`,
        maskedRrn: `${rrn.slice(0, 6)}-${rrn[6]}******`,
        maskedPhone: phone === undefined ? null : `${phone.slice(0, 3)}-${phone.slice(3, 7)}-****`,
        status: user.status,
      },
    };
  };
}

/** A fresh, valid RRN (1990s birth date, gender 1) so that each test registers its own person. */
export function randomRrn(): string {
  const month = String(1 + Math.floor(Math.random() * 12)).padStart(2, '0');
  const day = String(1 + Math.floor(Math.random() * 28)).padStart(2, '0');
  const tail = String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0');
  return `9${Math.floor(Math.random() * 10)}${month}${day}-1${tail}`;
}

export { uniqueName, waitUntil };
