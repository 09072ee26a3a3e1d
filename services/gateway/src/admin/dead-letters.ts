import { allTopics, dlqTopic } from '@nuri/contracts/events';
import { AppError } from '@nuri/platform/errors';
import {
  type DeadLetter,
  dlqReplaysTopic,
  lettersByRef,
  listDeadLetters,
  replayDeadLetters,
} from '@nuri/platform/kafka/dlq';
import type { Logger } from '@nuri/platform/logger';
import { redactString } from '@nuri/platform/masking';
import { type DlqAnswer, dlqErrorLengthMax, type ReplayAnswer, type ReplayBody } from './schemas.ts';

// The dead letters of every topic of this system (GET /api/v1/admin/dlq) and
// their replay (POST /api/v1/admin/dlq/replays), through the same library as
// `nuri dlq`: a replay is recorded in the replays topic (who, what, when), so
// a letter replayed once is skipped the next time unless `again`.

/**
 * Letters one `all` replay sends at most (and skipped ones it names at most);
 * the rest wait for the next call — the answer says which went.
 */
export const replayAllMax = 500;

export interface DeadLetterDesk {
  list(limit: number): Promise<DlqAnswer>;
  /** Every letter with its last replay (for the waiting-letters gauge). */
  letters(): Promise<DeadLetter[]>;
  replay(body: ReplayBody, by: string): Promise<ReplayAnswer>;
}

export function createDeadLetterDesk(options: {
  brokers: string[];
  /** NURI_KAFKA_TOPIC_PREFIX: this system's topics on a shared broker. */
  topicPrefix: string;
  timeoutMs: number;
  logger: Logger;
}): DeadLetterDesk {
  const { brokers, topicPrefix, timeoutMs, logger } = options;
  const dlqTopics = allTopics.map((topic) => `${topicPrefix}${dlqTopic(topic)}`);
  const replaysTopic = `${topicPrefix}${dlqReplaysTopic}`;
  // One replay at a time per instance: two clicks must not both pass the "replayed already?" check.
  let replaying: Promise<unknown> = Promise.resolve();

  const read = () =>
    withinTime(
      listDeadLetters(brokers, dlqTopics, replaysTopic, { readTimeoutMs: timeoutMs }),
      timeoutMs,
      logger,
    );

  return {
    async list(limit) {
      return summarize(await read(), limit);
    },
    letters: read,
    replay(body, by) {
      const run = replaying.then(async () => {
        const { chosen, unknown } = chooseLetters(await read(), body);
        if (unknown.length > 0) {
          throw new AppError('DEAD_LETTER_NOT_FOUND', 404, `No dead letter ${unknown.join(', ')}`, {
            refs: unknown,
          });
        }
        const done = await withinTime(
          replayDeadLetters(brokers, chosen, replaysTopic, { again: body.again === true, by }),
          timeoutMs,
          logger,
        );
        return {
          replayed: done.replayed.map((letter) => letter.ref),
          skipped: done.skipped.map((letter) => letter.ref),
        };
      });
      replaying = run.catch(() => undefined);
      return run;
    },
  };
}

/** The newest `limit` letters, and the count of all of them per topic. */
export function summarize(letters: readonly DeadLetter[], limit: number): DlqAnswer {
  const byTopic = new Map<string, number>();
  for (const letter of letters) byTopic.set(letter.topic, (byTopic.get(letter.topic) ?? 0) + 1);
  const newestFirst = [...letters].sort(newerFirst);
  return {
    items: newestFirst.slice(0, limit).map((letter) => ({
      ref: letter.ref,
      topic: letter.topic,
      eventType: letter.eventType ?? null,
      eventId: letter.eventId ?? null,
      failedAt: isTimestamp(letter.failedAt) ? new Date(letter.failedAt).toISOString() : null,
      group: letter.group,
      kind: letter.kind,
      // What the consumer wrote; masked again in case a value's PII made it into a message.
      error: redactString(letter.error).slice(0, dlqErrorLengthMax),
      replayedAt: isTimestamp(letter.replayedAt) ? new Date(letter.replayedAt).toISOString() : null,
    })),
    byTopic: [...byTopic]
      .map(([topic, count]) => ({ topic, count }))
      .sort((a, b) => (a.topic < b.topic ? -1 : 1)),
  };
}

/**
 * The letters a replay request names: its refs (any unknown one is reported),
 * or with `all` every letter, oldest first, at most `replayAllMax`.
 */
export function chooseLetters(
  letters: readonly DeadLetter[],
  body: ReplayBody,
): { chosen: DeadLetter[]; unknown: string[] } {
  if (body.all === true) {
    const oldestFirst = [...letters].sort(newerFirst).reverse();
    const again = body.again === true;
    const toReplay = oldestFirst.filter((letter) => again || letter.replayedAt === undefined);
    // Named so the answer lists them as skipped (bounded like the rest).
    const replayedBefore = again ? [] : oldestFirst.filter((letter) => letter.replayedAt !== undefined);
    return {
      chosen: [...toReplay.slice(0, replayAllMax), ...replayedBefore.slice(0, replayAllMax)],
      unknown: [],
    };
  }
  const refs = body.refs ?? [];
  const byRef = lettersByRef(letters);
  return {
    // A ref and a copy of it (or a ref named twice) replay their letter once.
    chosen: [...new Set(refs.flatMap((ref) => byRef.get(ref) ?? []))],
    unknown: refs.filter((ref) => !byRef.has(ref)),
  };
}

/** Exactly one of refs and all: anything else is the client's error. */
export function validateReplayBody(body: ReplayBody): void {
  const byRefs = body.refs !== undefined;
  const byAll = body.all === true;
  if (byRefs === byAll) {
    throw new AppError(
      'VALIDATION_FAILED',
      400,
      'body must name the letters (refs) or say all: true, not both',
    );
  }
}

function newerFirst(a: DeadLetter, b: DeadLetter): number {
  if (a.failedAt !== b.failedAt) return a.failedAt < b.failedAt ? 1 : -1;
  if (a.dlqTopic !== b.dlqTopic) return a.dlqTopic < b.dlqTopic ? 1 : -1;
  if (a.partition !== b.partition) return b.partition - a.partition;
  return a.offset < b.offset ? 1 : a.offset > b.offset ? -1 : 0;
}

function isTimestamp(value: string | undefined): value is string {
  return value !== undefined && value !== '' && !Number.isNaN(Date.parse(value));
}

/** The broker's answer within the time, else 503 (the library's own reads are bounded too; this bounds the whole). */
async function withinTime<T>(work: Promise<T>, timeoutMs: number, logger: Logger): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (error) {
    if (error instanceof AppError) throw error;
    logger.warn({ err: error }, 'the dead letters could not be read or replayed');
    throw new AppError('BROKER_UNAVAILABLE', 503, 'Kafka did not answer in time; retry shortly');
  } finally {
    clearTimeout(timer);
    // A read or replay still running after the answer finishes on its own, bounded by its own limits.
    work.catch(() => undefined);
  }
}
