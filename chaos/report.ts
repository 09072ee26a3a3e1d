// report.json: everything a reader needs to judge the run and repeat it —
// the seed and options (and the command that repeats them), the machine and
// commit, the fault schedule and what each fault did with its timestamps,
// the answers per second by class, and each invariant with what it found.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from '../bench/suite/machine.ts';
import type { Attempt } from '../e2e/workload.ts';
import {
  type ConsumerLag,
  channelOnlyRoutes,
  type DeadLetterSummary,
  type Invariant,
  type WindowAvailability,
} from './checker.ts';
import type { FaultEvent } from './faults.ts';
import type { ChaosOptions } from './options.ts';
import type { Operation } from './record.ts';
import { renderHtml } from './report-html.ts';
import type { PlannedFault } from './schedule.ts';

/** The answers of one second of the run, by class. */
export interface Second {
  /** Seconds since the load started. */
  s: number;
  ok: number;
  clientError: number;
  serverError: number;
  /** Attempts that got no answer (refused, reset, timed out). */
  noAnswer: number;
  /** The channel-only routes (login, deposit acceptance, coupon issue, point charge): attempts and those without 5xx. */
  channelOnly: number;
  channelOnlyGood: number;
}

export interface ChaosReport {
  ok: boolean;
  seed: number;
  /** The command that repeats this run. */
  reproduce: string;
  options: ChaosOptions;
  machine: MachineInfo;
  loadAverage: { before: number[]; after: number[] };
  times: { started: string; loadStarted: string; loadEnded: string; checked: string; finished: string };
  topology: Array<{ name: string; service: string; where: string }>;
  zone: {
    method: string;
    namespace: string;
    hostAddress: string;
    zoneAddress: string;
    netem: boolean;
  } | null;
  infra: { kafka: string; redis: string; postgres: string; mariadb: string };
  schedule: PlannedFault[];
  faults: FaultEvent[];
  series: Second[];
  operations: {
    total: number;
    attempts: number;
    shed: number;
    byKind: Record<string, { total: number; byStatus: Record<string, number>; retried: number }>;
  };
  availability: WindowAvailability[];
  deadLetters: DeadLetterSummary[];
  consumerLag: ConsumerLag;
  logs: { lines: number; byInstance: Record<string, number> };
  invariants: Invariant[];
  notes: string[];
}

export function secondsOf(attempts: readonly Attempt[], startedAt: number, endedAt: number): Second[] {
  const length = Math.max(1, Math.ceil((endedAt - startedAt) / 1_000));
  const series: Second[] = Array.from({ length }, (_, s) => ({
    s,
    ok: 0,
    clientError: 0,
    serverError: 0,
    noAnswer: 0,
    channelOnly: 0,
    channelOnlyGood: 0,
  }));
  for (const attempt of attempts) {
    const second = series[Math.floor((attempt.at - startedAt) / 1_000)];
    if (second === undefined) continue;
    const good = attempt.status !== 'network' && attempt.status < 500;
    if (attempt.status === 'network') second.noAnswer += 1;
    else if (attempt.status >= 500) second.serverError += 1;
    else if (attempt.status >= 400) second.clientError += 1;
    else second.ok += 1;
    if (channelOnlyRoutes.has(attempt.route)) {
      second.channelOnly += 1;
      if (good) second.channelOnlyGood += 1;
    }
  }
  return series;
}

export function summarizeOperations(
  operations: readonly Operation[],
  shed: number,
): ChaosReport['operations'] {
  const byKind: ChaosReport['operations']['byKind'] = {};
  let attempts = 0;
  for (const operation of operations) {
    attempts += operation.attempts;
    byKind[operation.kind] ??= { total: 0, byStatus: {}, retried: 0 };
    const entry = byKind[operation.kind]!;
    entry.total += 1;
    const status =
      operation.outcome === 'definite'
        ? `${operation.status}${operation.code ? ` ${operation.code}` : ''}`
        : operation.outcome;
    entry.byStatus[status] = (entry.byStatus[status] ?? 0) + 1;
    if (operation.attempts > 1) entry.retried += 1;
  }
  return { total: operations.length, attempts, shed, byKind };
}

export function writeReport(folder: string, report: ChaosReport): { json: string; html: string } {
  const json = join(folder, 'report.json');
  const html = join(folder, 'report.html');
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, renderHtml(report));
  return { json, html };
}

/** The summary table printed at the end (and pasted into the README). */
export function summaryTable(report: ChaosReport): string {
  const rows = report.invariants.map(
    (check) =>
      `| ${check.ok ? 'held' : '**BROKEN**'} | \`${check.name}\` | ${check.summary.replaceAll('|', '\\|')} |`,
  );
  return ['| result | invariant | what it found |', '|---|---|---|', ...rows].join('\n');
}
