import { type Check, gatherReconciliation, type ReportingService } from '@nuri/platform/reconciliation';
import { parseUrlList } from '@nuri/platform/upstream';
import type { CliConfig } from '../config.ts';
import { CliError } from '../log.ts';
import { operatorToken } from '../secrets.ts';

const requestTimeoutMs = 60_000;

export type { Check } from '@nuri/platform/reconciliation';

/** Each service's instances (NURI_<SERVICE>_URL lists one or several); the first that answers is asked. */
function baseUrlsOf(config: CliConfig): Record<ReportingService, string[]> {
  return {
    'core-payment': parseUrlList(config.NURI_CORE_PAYMENT_URL),
    point: parseUrlList(config.NURI_POINT_URL),
    coupon: parseUrlList(config.NURI_COUPON_URL),
    'channel-user': parseUrlList(config.NURI_CHANNEL_USER_URL),
  };
}

/** Every service's checks, each service asked at once; a service that cannot be asked throws CliError (exit 2). */
export async function reconciliationChecks(
  config: CliConfig,
  token: string | undefined,
): Promise<Array<{ service: string; checks: Check[] }>> {
  const baseUrls = baseUrlsOf(config);
  const sections = await gatherReconciliation((service, path) =>
    fetchJson(service, baseUrls[service], path, token),
  );
  const unreachable = sections.find((section) => section.unreachable !== undefined);
  if (unreachable !== undefined) throw new CliError(unreachable.unreachable!, 2);
  return sections.map(({ service, checks }) => ({ service, checks }));
}

/**
 * Prints the reconciliation report and returns the exit code: 0 when
 * everything agrees, 1 on any mismatch, 2 when a service could not be asked.
 */
export async function reconcile(config: CliConfig): Promise<number> {
  const services = await reconciliationChecks(config, operatorToken());
  process.stdout.write(`Nuri Bank reconciliation at ${new Date().toISOString()}\n`);
  let allOk = true;
  for (const { service, checks } of services) {
    process.stdout.write(`\n${service}\n`);
    for (const check of checks) {
      allOk &&= check.ok;
      process.stdout.write(`  ${check.ok ? 'OK  ' : 'FAIL'}  ${check.label.padEnd(50)} ${check.summary}\n`);
      for (const finding of check.findings) process.stdout.write(`        ${finding}\n`);
    }
  }
  process.stdout.write(`\n${allOk ? 'RECONCILED' : 'MISMATCH'}\n`);
  return allOk ? 0 : 1;
}

async function fetchJson(
  service: string,
  baseUrls: readonly string[],
  path: string,
  token: string | undefined,
): Promise<Record<string, unknown>> {
  let lastFailure = '';
  for (const baseUrl of baseUrls) {
    const url = `${baseUrl}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
    } catch (error) {
      lastFailure = `could not reach ${service} at ${baseUrl} (is \`npm start\` running?): ${(error as Error).message}`;
      continue;
    }
    if (response.status !== 200) {
      lastFailure = `${service} answered ${response.status} to ${url}: ${(await response.text()).slice(0, 500)}`;
      continue;
    }
    return (await response.json()) as Record<string, unknown>;
  }
  throw new Error(lastFailure || `no URL for ${service}`);
}
