import { parseUrlList } from '@nuri/platform/upstream';
import type { CliConfig } from '../config.ts';
import { CliError } from '../log.ts';
import { isProcessAlive } from '../process.ts';
import { environmentWithSecrets } from '../secrets.ts';
import { readStatus, statusFile } from '../status.ts';

const requestTimeoutMs = 60_000;

/** One line of the report: a check that holds or not, with the findings that break it. */
export interface Check {
  label: string;
  ok: boolean;
  summary: string;
  findings: string[];
}

/**
 * A service that owns data answers for it: nobody reads another service's
 * database, so each one exposes GET /internal/v1/reconciliation and this
 * command only gathers and prints. `checks` turns its report into lines.
 */
interface Source {
  service: string;
  /** Its instances; the first that answers is asked. */
  baseUrls: string[];
  checks: (report: Record<string, unknown>) => Check[];
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const count = (value: unknown, noun: string) => `${list(value).length} ${noun}`;
const show = (value: unknown) => list(value).map((item) => JSON.stringify(item));

function sources(config: CliConfig): Source[] {
  return [
    {
      service: 'core-payment',
      baseUrls: instanceUrls('core-payment', config.NURI_CORE_PAYMENT_URL),
      checks: (report) => [
        { label: 'accounts checked', ok: true, summary: String(report.accountsChecked), findings: [] },
        {
          label: 'balance = ledger sum, every account',
          ok: list(report.balanceMismatches).length === 0,
          summary: count(report.balanceMismatches, 'mismatches'),
          findings: show(report.balanceMismatches),
        },
        {
          label: 'every transaction balances (debits = credits)',
          ok: list(report.unbalancedTransactions).length === 0,
          summary: count(report.unbalancedTransactions, 'unbalanced'),
          findings: show(report.unbalancedTransactions),
        },
        {
          label: 'every deposit/payment applied at most once',
          ok: list(report.duplicateApplications).length === 0,
          summary: count(report.duplicateApplications, 'duplicates'),
          findings: show(report.duplicateApplications),
        },
      ],
    },
    {
      service: 'point',
      baseUrls: instanceUrls('point', config.NURI_POINT_URL),
      checks: (report) => [
        {
          label: 'every payment terminal or younger than its timeout',
          ok: list(report.stuckPayments).length === 0 && report.pendingOverdue === 0,
          summary: `${count(report.stuckPayments, 'stuck')}, ${String(report.pendingOverdue)} overdue`,
          findings: show(report.stuckPayments),
        },
        {
          label: 'wallet = charged - used + refunded, every user',
          ok: list(report.walletMismatches).length === 0,
          summary: count(report.walletMismatches, 'mismatches'),
          findings: show(report.walletMismatches),
        },
        {
          label: 'one USE per payment, one REFUND per FAILED',
          ok: list(report.paymentMismatches).length === 0,
          summary: count(report.paymentMismatches, 'mismatches'),
          findings: show(report.paymentMismatches),
        },
      ],
    },
    {
      service: 'coupon',
      baseUrls: instanceUrls('coupon', config.NURI_COUPON_URL),
      checks: (report) => [
        {
          label: 'coupons issued in Redis = recorded in the core',
          ok: list(report.mismatches).length === 0,
          summary:
            `${count(report.mismatches, 'mismatches')} of ${count(report.campaigns, 'campaigns')}` +
            (list(report.notLoaded).length > 0
              ? `, ${count(report.notLoaded, 'not in Redis (not compared)')}`
              : ''),
          findings: show(report.mismatches),
        },
      ],
    },
  ];
}

/** Every service's checks, each service asked at once; a service that cannot be asked throws CliError (exit 2). */
export async function reconciliationChecks(
  config: CliConfig,
  token: string | undefined,
): Promise<Array<{ service: string; checks: Check[] }>> {
  return Promise.all(
    sources(config).map(async (source) => ({
      service: source.service,
      checks: source.checks(await fetchReport(source, token)),
    })),
  );
}

/**
 * Prints the reconciliation report and returns the exit code: 0 when
 * everything agrees, 1 on any mismatch, 2 when a service could not be asked.
 */
export async function reconcile(config: CliConfig): Promise<number> {
  const services = await reconciliationChecks(config, environmentWithSecrets().NURI_INTERNAL_TOKEN);
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

/**
 * The configured URLs, then those of the running `npm start` (its status
 * file): with `--scale`, the default port may be an instance that is down
 * while another answers.
 */
function instanceUrls(service: string, configured: string): string[] {
  const urls = parseUrlList(configured);
  const status = readStatus(statusFile);
  if (status !== undefined && isProcessAlive(status.supervisorPid)) {
    for (const instance of status.instances) {
      const url = `http://127.0.0.1:${instance.port}`;
      if (instance.service === service && instance.state === 'ready' && !urls.includes(url)) urls.push(url);
    }
  }
  return urls;
}

async function fetchReport(source: Source, token: string | undefined): Promise<Record<string, unknown>> {
  let lastFailure = '';
  for (const baseUrl of source.baseUrls) {
    const url = `${baseUrl}/internal/v1/reconciliation`;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
    } catch (error) {
      lastFailure = `could not reach ${source.service} at ${url} (is \`npm start\` running?): ${(error as Error).message}`;
      continue;
    }
    if (response.status !== 200) {
      lastFailure = `${source.service} answered ${response.status} to ${url}: ${(await response.text()).slice(0, 500)}`;
      continue;
    }
    return (await response.json()) as Record<string, unknown>;
  }
  throw new CliError(lastFailure || `no URL for ${source.service}`, 2);
}
