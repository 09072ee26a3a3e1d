import type { DeadLetter } from '@nuri/platform/kafka/dlq';
import type { Logger } from '@nuri/platform/logger';
import { type Check, gatherReconciliation, type ServiceChecks } from '@nuri/platform/reconciliation';
import { Gauge, type Registry } from 'prom-client';
import type { ServiceReports } from './admin/service-reports.ts';

// The reconciliation (`nuri reconcile`, the operator console's "Run") run on
// a timer and kept as gauges, so Prometheus can alert on a mismatch
// (deploy/monitoring/rules/nuri-alerts.yml) without anyone pressing a button.
// Every gateway instance runs it: the checks only read, and the rules take
// the worst answer of all of them. The same timer counts the dead letters no
// one has replayed yet, per topic: a DLQ is "not empty" while one waits.

export interface ReconciliationMetrics {
  /** One run now (the timer's work; exposed for tests). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/** A check's or section's label as a Prometheus label value: `coupons-issued-in-redis-recorded-in-the-core`. */
export function slugOf(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export function startReconciliationMetrics(options: {
  registry: Registry;
  reports: ServiceReports;
  /** Between runs; 0: never (no series at all). */
  intervalMs: number;
  logger: Logger;
  /** Every dead letter with its replay, if any (the DLQ desk's read); absent: no such gauge. */
  deadLetters?: () => Promise<readonly DeadLetter[]>;
  now?: () => number;
}): ReconciliationMetrics {
  const { registry, reports, intervalMs, logger } = options;
  const waiting = new Gauge({
    name: 'nuri_dlq_letters_waiting',
    help: 'Dead letters of each topic not replayed yet, at the last periodic read of the DLQs',
    labelNames: ['topic'] as const,
    registers: options.deadLetters === undefined ? [] : [registry],
  });
  const now = options.now ?? Date.now;
  const checkOk = new Gauge({
    name: 'nuri_reconciliation_check_ok',
    help: 'Each reconciliation check at its last run: 1 holds, 0 broken (nuri reconcile names the findings)',
    labelNames: ['section', 'check'] as const,
    registers: [registry],
  });
  const findings = new Gauge({
    name: 'nuri_reconciliation_findings',
    help: 'Findings (mismatched accounts, campaigns, deposits…) of each reconciliation check at its last run',
    labelNames: ['section', 'check'] as const,
    registers: [registry],
  });
  const unreachable = new Gauge({
    name: 'nuri_reconciliation_section_unreachable',
    help: 'A reconciliation section whose service could not be asked at the last run (1), or asked (0)',
    labelNames: ['section'] as const,
    registers: [registry],
  });
  const lastRun = new Gauge({
    name: 'nuri_reconciliation_last_run_timestamp_seconds',
    help: 'When the periodic reconciliation last finished (Unix time)',
    registers: [registry],
  });

  function record(sections: readonly ServiceChecks[]): void {
    checkOk.reset();
    findings.reset();
    unreachable.reset();
    for (const section of sections) {
      const sectionLabel = slugOf(section.service);
      unreachable.set({ section: sectionLabel }, section.unreachable === undefined ? 0 : 1);
      for (const check of section.checks) {
        const labels = { section: sectionLabel, check: slugOf(check.label) };
        checkOk.set(labels, check.ok ? 1 : 0);
        findings.set(labels, findingsOf(check));
      }
    }
    lastRun.set(now() / 1_000);
  }

  async function countWaitingLetters(): Promise<void> {
    if (options.deadLetters === undefined) return;
    const counts = waitingByTopic(await options.deadLetters());
    waiting.reset();
    for (const [topic, count] of counts) waiting.set({ topic }, count);
  }

  async function runOnce(): Promise<void> {
    // A broker that cannot be read leaves the last counts standing (and says so); the checks still run.
    const letters = countWaitingLetters().catch((error: unknown) =>
      logger.warn({ err: error }, 'counting the dead letters failed'),
    );
    const sections = await gatherReconciliation((service, path) => reports.read(service, path), now());
    record(sections);
    await letters;
    const broken = sections.flatMap((section) => section.checks.filter((check) => !check.ok));
    if (broken.length > 0) {
      logger.error(
        { checks: broken.map((check) => check.label) },
        'periodic reconciliation found mismatches; run nuri reconcile for the findings',
      );
    }
  }

  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const schedule = () => {
    if (stopping || intervalMs === 0) return;
    timer = setTimeout(() => {
      running = runOnce()
        .catch((error: unknown) => logger.warn({ err: error }, 'periodic reconciliation failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    runOnce,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await running;
    },
  };
}

// A check that holds has none; one that does not has at least one, even
// when its findings are not listed (a money total that does not add up).
function findingsOf(check: Check): number {
  return check.ok ? 0 : Math.max(1, check.findings.length);
}

/** Letters not replayed yet, per original topic; topics with none are absent. */
export function waitingByTopic(letters: readonly DeadLetter[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const letter of letters) {
    if (letter.replayedAt !== undefined) continue;
    counts.set(letter.topic, (counts.get(letter.topic) ?? 0) + 1);
  }
  return counts;
}
