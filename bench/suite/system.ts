// The system under load, booted as `npm start` boots it (every service its
// own process behind the gateway; e2e/harness.ts gives it ports, databases
// and topics of its own), and the few secrets this run owns so that it can
// act as an operator: the admin token (campaigns), the internal token
// (reconciliation, the core's coupon records) and the access-token signing key.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { accessTokenAlgorithm, accessTokenAudience, accessTokenIssuer } from '@nuri/platform/access-token';
import { uuidv7 } from '@nuri/platform/ids';
import { parseUrlList } from '@nuri/platform/upstream';
import { importPKCS8, SignJWT } from 'jose';
import { startTestSystem, type TestSystem } from '../../e2e/harness.ts';
import type { Scale } from '../../src/cli/topology.ts';

export interface BenchSystem {
  gatewayUrl: string;
  /** The run's throwaway databases, dropped at its end (or on Ctrl-C). */
  databases: string[];
  channelUserUrl: string;
  corePaymentUrl: string;
  pointUrl: string;
  couponUrl: string;
  adminToken: string;
  opsToken: string;
  /**
   * What every service process of the run gets beyond its configuration:
   * --cpu-prof under --profile, the span sink under --tracing. A service the
   * suite starts beside the system (own-core.ts) gets it too.
   */
  instrumentation: Readonly<Record<string, string>>;
  /** Signs access tokens as channel-user would, for users that exist only as a userUuid (the coupon crowd). */
  mintTokens(count: number): Promise<string[]>;
  /**
   * Sends a signal to every instance of a service, as an outside fault would
   * (deposit-accept stops the core); throws after trying them all if one had no process.
   */
  signalService(service: string, signal: NodeJS.Signals): void;
  shutdown(): Promise<void>;
}

const signingKeyId = 'bench';

/** A service's first instance: the -direct scenarios and the direct ceilings go straight at one. */
function firstUrl(urls: string | undefined): string {
  const first = parseUrlList(urls ?? '')[0];
  if (first === undefined) throw new Error('the test system named no URL');
  return first;
}
/** Minted tokens outlive any scenario; channel-user's own stay at its default lifetime. */
const mintedTokenTtlSeconds = 3_600;

/**
 * With `--tracing`, where the services export their spans: an OTLP/HTTP
 * endpoint in this process that reads each request whole and drops it (a
 * collector's receiving end, not its processing).
 */
async function startSpanSink(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * What every service process of the run gets beyond its configuration:
 * --cpu-prof (writing into `profileDir`) and where to export spans.
 */
export function instrumentationFor(options: {
  profileDir?: string;
  spanSinkUrl?: string;
}): Record<string, string> {
  return {
    ...(options.profileDir === undefined
      ? {}
      : {
          NODE_OPTIONS:
            `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${options.profileDir}`.trim(),
        }),
    ...(options.spanSinkUrl === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: options.spanSinkUrl }),
  };
}

/**
 * `profileDir`: every service runs under --cpu-prof and writes its profile there when it stops.
 * `tracing`: every service traces and exports its spans (to startSpanSink).
 */
export async function startBenchSystem(
  options: { profileDir?: string; scale?: Scale; tracing?: boolean; runId?: string } = {},
): Promise<BenchSystem> {
  const sink = options.tracing === true ? await startSpanSink() : undefined;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64url');
  const adminToken = randomBytes(32).toString('base64url');
  const opsToken = randomBytes(32).toString('base64url');
  process.env.NURI_E2E_LOG_LEVEL ??= 'warn';
  const instrumentation = instrumentationFor({
    ...(options.profileDir === undefined ? {} : { profileDir: options.profileDir }),
    ...(sink === undefined ? {} : { spanSinkUrl: sink.url }),
  });
  const system: TestSystem = await startTestSystem({
    ...(options.runId === undefined ? {} : { runId: options.runId }),
    ...(options.scale === undefined ? {} : { scale: options.scale }),
    envOverrides: {
      NURI_ADMIN_TOKEN: adminToken,
      NURI_INTERNAL_TOKEN_OPS: opsToken,
      NURI_JWT_SIGNING_KEYS: `${signingKeyId}:${pkcs8}`,
      NURI_JWT_ACTIVE_KEY_ID: signingKeyId,
      // One load generator is one client IP (and withdraw-hot one user): the
      // limiter still runs its Redis round trip on every request, but a
      // limit sized for a crowd of clients would otherwise measure itself.
      NURI_RATE_LIMIT_IP_MAX: '10000000',
      NURI_RATE_LIMIT_USER_MAX: '10000000',
      NURI_GATEWAY_SIGNUP_LIMIT_PER_IP: '10000000',
      NURI_GATEWAY_LOGIN_LIMIT_PER_IP: '10000000',
      NURI_GATEWAY_HEALTH_LIMIT_PER_IP: '10000000',
      ...instrumentation,
    },
  });
  const signingKey = await importPKCS8(
    privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    accessTokenAlgorithm,
  );
  return {
    gatewayUrl: system.gatewayUrl,
    databases: system.databases,
    channelUserUrl: firstUrl(system.env.NURI_CHANNEL_USER_URL),
    corePaymentUrl: firstUrl(system.env.NURI_CORE_PAYMENT_URL),
    pointUrl: firstUrl(system.env.NURI_POINT_URL),
    couponUrl: firstUrl(system.env.NURI_COUPON_URL),
    adminToken,
    opsToken,
    instrumentation,
    signalService(service, signal) {
      const instances = system.supervisor.list().filter((instance) => instance.service === service);
      if (instances.length === 0) throw new Error(`the system runs no ${service}`);
      // Every instance is signalled even when one cannot be (restarting): a SIGCONT must reach all.
      const failed: string[] = [];
      for (const instance of instances) {
        try {
          system.supervisor.signal(instance.name, signal);
        } catch (error) {
          failed.push(`${instance.name}: ${(error as Error).message}`);
        }
      }
      if (failed.length > 0) throw new Error(`${signal} did not reach ${failed.join('; ')}`);
    },
    async mintTokens(count) {
      const nowSeconds = Math.floor(Date.now() / 1_000);
      const tokens: string[] = [];
      for (let index = 0; index < count; index += 1) {
        tokens.push(
          await new SignJWT({})
            .setProtectedHeader({ alg: accessTokenAlgorithm, kid: signingKeyId, typ: 'JWT' })
            .setSubject(uuidv7())
            .setIssuer(accessTokenIssuer)
            .setAudience(accessTokenAudience)
            .setIssuedAt(nowSeconds)
            .setExpirationTime(nowSeconds + mintedTokenTtlSeconds)
            .setJti(uuidv7())
            .sign(signingKey),
        );
      }
      return tokens;
    },
    async shutdown() {
      await system.shutdown();
      await sink?.close();
    },
  };
}
