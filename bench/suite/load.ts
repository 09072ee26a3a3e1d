// The suite's side of the load generator: start load-worker.ts, hand it a
// spec, show its progress, take its result; then settle what it left in doubt.
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { CollectedResponse, LoadResult, LoadSpec, SentRequest, WorkerMessage } from './load-types.ts';
import { progress } from './progress.ts';
import { formatNumber, summarizeLatencies } from './stats.ts';

const workerEntry = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
/** How often a progress line is printed while the load runs. */
const progressEveryS = 5;
/** A load never runs longer than asked plus this (a stuck worker must not hang the suite). */
const workerGraceMs = 120_000;

export async function runLoad(spec: LoadSpec, label: string): Promise<LoadResult> {
  const worker = fork(workerEntry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const total = spec.amount;
  let lastPrintedS = 0;
  const budgetMs = (spec.durationS ?? 600) * 1_000 + workerGraceMs;
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${label}: load generator silent for ${budgetMs} ms`)),
        budgetMs,
      );
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'progress') {
          if (message.elapsedS - lastPrintedS < progressEveryS) return;
          lastPrintedS = message.elapsedS;
          const rate = message.answered / message.elapsedS;
          const done = total === undefined ? '' : ` of ${formatNumber(total)}`;
          progress(
            `  ${label}: ${message.elapsedS.toFixed(0)} s, ${formatNumber(message.answered)}${done} answered, ${formatNumber(rate)}/s`,
          );
          return;
        }
        clearTimeout(timer);
        if (message.type === 'result') resolve(message.result);
        else reject(new Error(`${label}: load generator failed: ${message.message}`));
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${label}: load generator exited with ${code} before answering`));
      });
      worker.send(spec);
    });
  } finally {
    worker.removeAllListeners('exit');
    if (worker.exitCode === null) worker.kill('SIGTERM');
  }
}

/** An answer that settles what a request did: not "still in progress", not a 5xx that invites a retry. */
function isDefinitive(status: number, body: string): boolean {
  if (status >= 500) return false;
  return !(status === 409 && body.includes('IDEMPOTENCY_KEY_IN_PROGRESS'));
}

const resolveAttemptsMax = 20;
const resolveBackoffMs = 250;
const resolveTimeoutMs = 10_000;

/**
 * Re-sends every request the load left unanswered, with its own
 * Idempotency-Key, until each has a definitive answer: the effect it had (a
 * replay) or the one it now has, exactly once either way. Afterwards every
 * request the load sent has an outcome to count.
 */
export async function resolveInDoubt(baseUrl: string, inDoubt: SentRequest[]): Promise<CollectedResponse[]> {
  const answers: CollectedResponse[] = [];
  for (const request of inDoubt) {
    if (request.headers['idempotency-key'] === undefined) {
      throw new Error(`cannot settle ${request.method} ${request.path}: it carried no Idempotency-Key`);
    }
    const sentAtMs = Date.now();
    for (let attempt = 1; ; attempt += 1) {
      const response = await fetch(`${baseUrl}${request.path}`, {
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        signal: AbortSignal.timeout(resolveTimeoutMs),
      }).catch(() => undefined);
      const body = response === undefined ? '' : await response.text();
      const status = response?.status ?? 0;
      if (response !== undefined && isDefinitive(status, body)) {
        answers.push({
          ...(request.tag === undefined ? {} : { tag: request.tag }),
          status,
          sentAtMs,
          answeredAtMs: Date.now(),
          body,
        });
        break;
      }
      if (attempt >= resolveAttemptsMax) {
        throw new Error(
          `${request.method} ${request.path} still unsettled after ${attempt} attempts (${status})`,
        );
      }
      await sleep(resolveBackoffMs * attempt);
    }
  }
  return answers;
}

/** Status counts of the load plus what settling the in-doubt requests answered. */
export function settledStatuses(load: LoadResult, resolved: CollectedResponse[]): Record<string, number> {
  const statuses = { ...load.statuses };
  for (const answer of resolved) statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
  return statuses;
}

/**
 * The report's view of work that sends no HTTP request (events produced to
 * Kafka, an outbox relayed): how long it ran, how many operations completed
 * in each second of it, and the share of the machine whatever generated it
 * used. There is no latency to summarize and no answer to count.
 */
export function loadWithoutRequests(work: {
  startedAtMs: number;
  endedAtMs: number;
  completed: number;
  samples: number[];
  generatorShare: number;
}): LoadResult {
  const wallMs = Math.max(1, work.endedAtMs - work.startedAtMs);
  return {
    startedAtMs: work.startedAtMs,
    durationS: wallMs / 1_000,
    sent: work.completed,
    answered: work.completed,
    statuses: {},
    errors: 0,
    timeouts: 0,
    latency: summarizeLatencies([]),
    samples: work.samples,
    collected: [],
    inDoubt: [],
    // Measured from /proc as a share of the machine, not split into user and system time.
    cpu: {
      userMs: work.generatorShare * wallMs * availableParallelism(),
      systemMs: 0,
      wallMs,
      machineShare: work.generatorShare,
    },
  };
}

/** Operations completed in each whole second since `startedAtMs`, from running totals seen at times. */
export function samplesFromTotals(
  totals: ReadonlyArray<{ atMs: number; total: number }>,
  startedAtMs: number,
): number[] {
  const last = totals.at(-1);
  if (last === undefined) return [];
  const samples = new Array<number>(Math.max(1, Math.ceil((last.atMs - startedAtMs) / 1_000))).fill(0);
  let previous = 0;
  for (const { atMs, total } of totals) {
    const second = Math.min(samples.length - 1, Math.max(0, Math.floor((atMs - startedAtMs) / 1_000)));
    samples[second]! += Math.max(0, total - previous);
    previous = Math.max(previous, total);
  }
  return samples;
}
