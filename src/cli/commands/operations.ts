// Operators' commands for what reconciliation and the DLQs report: replaying
// dead letters once their cause is fixed, and resolving payments the saga
// reported stuck. Both act through the owning service or Kafka, never by
// writing another service's database.
import { allTopics, dlqTopic } from '@nuri/contracts/events';
import {
  type DeadLetter,
  dlqReplaysTopic,
  lettersByRef,
  listDeadLetters,
  replayDeadLetters,
} from '@nuri/platform/kafka/dlq';
import { parseUrlList } from '@nuri/platform/upstream';
import { type CliConfig, kafkaBrokerList } from '../config.ts';
import { CliError, say } from '../log.ts';
import { operatorToken } from '../secrets.ts';

const requestTimeoutMs = 10_000;

function dlqTopicsOf(config: CliConfig, only: string[]): string[] {
  const prefix = config.NURI_KAFKA_TOPIC_PREFIX;
  const known = allTopics.map((topic) => topic as string);
  const unknown = only.filter((topic) => !known.includes(topic));
  if (unknown.length > 0)
    throw new CliError(`unknown topic ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return (only.length === 0 ? known : only).map((topic) => `${prefix}${dlqTopic(topic)}`);
}

function replaysTopicOf(config: CliConfig): string {
  return `${config.NURI_KAFKA_TOPIC_PREFIX}${dlqReplaysTopic}`;
}

function printLetters(letters: readonly DeadLetter[]): void {
  if (letters.length === 0) {
    process.stdout.write('no dead letters\n');
    return;
  }
  for (const letter of letters) {
    process.stdout.write(
      `${letter.ref}  ${letter.eventType ?? '(not an event)'} ${letter.eventId ?? ''}\n` +
        `    failed ${letter.failedAt || '?'} in ${letter.group || '?'} (${letter.kind || '?'}): ${letter.error.slice(0, 200)}\n` +
        `    ${letter.replayedAt === undefined ? 'not replayed' : `replayed ${letter.replayedAt}`}\n` +
        (letter.copies.length === 0 ? '' : `    written again as ${letter.copies.join(', ')}\n`),
    );
  }
}

/** `nuri dlq list [topic…]` and `nuri dlq replay (<ref>… | --all [topic…]) [--again]`. */
export async function dlq(config: CliConfig, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const brokers = kafkaBrokerList(config);
  const flags = new Set(rest.filter((arg) => arg.startsWith('--')));
  const words = rest.filter((arg) => !arg.startsWith('--'));
  const unknownFlags = [...flags].filter((flag) => !['--all', '--again'].includes(flag));
  if (unknownFlags.length > 0) throw new CliError(`unknown option ${unknownFlags.join(', ')}\n${dlqUsage}`);
  if (action === 'list') {
    printLetters(await listDeadLetters(brokers, dlqTopicsOf(config, words), replaysTopicOf(config)));
    return 0;
  }
  if (action !== 'replay') throw new CliError(dlqUsage);
  const all = flags.has('--all');
  if (!all && words.length === 0) throw new CliError(`name the letters to replay, or --all\n${dlqUsage}`);
  const letters = await listDeadLetters(
    brokers,
    dlqTopicsOf(config, all ? words : []),
    replaysTopicOf(config),
  );
  const byRef = lettersByRef(letters);
  const chosen = all ? letters : [...new Set(words.flatMap((ref) => byRef.get(ref) ?? []))];
  const missing = all ? [] : words.filter((ref) => !byRef.has(ref));
  if (missing.length > 0)
    throw new CliError(`no dead letter ${missing.join(', ')} (nuri dlq list shows them)`);
  const { replayed, skipped } = await replayDeadLetters(brokers, chosen, replaysTopicOf(config), {
    again: flags.has('--again'),
  });
  for (const letter of replayed) say(`replayed ${letter.ref} → ${letter.topic}`);
  for (const letter of skipped)
    say(`skipped ${letter.ref}: replayed already at ${letter.replayedAt} (--again to send it anyway)`);
  return 0;
}

export const dlqUsage = `usage: nuri dlq list [topic…]
       nuri dlq replay <dlq-topic/partition/offset>… [--again]
       nuri dlq replay --all [topic…] [--again]`;

/** `nuri payments retry <paymentId>… | --stuck`: one more cash request for each payment reported stuck. */
export async function payments(config: CliConfig, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'retry' || rest.length === 0) throw new CliError(paymentsUsage);
  const token = operatorToken();
  const urls = parseUrlList(config.NURI_POINT_URL);
  const ids = rest.includes('--stuck') ? await stuckPaymentIds(urls, token) : rest;
  if (ids.length === 0) {
    say('no payment is stuck');
    return 0;
  }
  let failures = 0;
  for (const paymentId of ids) {
    const answer = await postToAny(
      urls,
      `/internal/v1/payments/${encodeURIComponent(paymentId)}/retry`,
      token,
    );
    if (answer.status === 200) say(`${paymentId}: one more cash request sent`);
    else {
      failures += 1;
      say(`${paymentId}: ${answer.status} ${answer.text.slice(0, 300)}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

export const paymentsUsage = 'usage: nuri payments retry <paymentId>… | nuri payments retry --stuck';

async function stuckPaymentIds(urls: string[], token: string | undefined): Promise<string[]> {
  const answer = await requestAny(urls, '/internal/v1/reconciliation', 'GET', token);
  if (answer.status !== 200)
    throw new CliError(`point answered ${answer.status}: ${answer.text.slice(0, 300)}`, 2);
  const report = JSON.parse(answer.text) as { stuckPayments?: Array<{ paymentId: string }> };
  return (report.stuckPayments ?? []).map((stuck) => stuck.paymentId);
}

function postToAny(urls: string[], path: string, token: string | undefined) {
  return requestAny(urls, path, 'POST', token);
}

async function requestAny(
  urls: string[],
  path: string,
  method: 'GET' | 'POST',
  token: string | undefined,
): Promise<{ status: number; text: string }> {
  let lastError = '';
  for (const url of urls) {
    try {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      lastError = `${url}: ${(error as Error).message}`;
    }
  }
  throw new CliError(`could not reach point (is \`npm start\` running?) ${lastError}`, 2);
}
