// core-payment on its own, for the core-* scenarios: the service's real
// server.ts in a process of its own (as npm start runs it), with a database,
// Kafka topics and consumer groups of this run, and internal tokens only the
// suite holds (channel-user's: open accounts, read them, withdraw; the
// operator's: the reports). Nothing of the system reaches it, so the suite can
// produce deposit.requested straight to its topic and call its internal
// routes without channel-user's records or the system's reconciliation
// disagreeing with its ledger — and it is measured with nothing in front.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEvent, messageKey } from '@nuri/contracts/events';
import { dropPgDatabase, ensurePgDatabase } from '@nuri/platform/db';
import { uuidv7, uuidv7Floor } from '@nuri/platform/ids';
import { deleteTopics, ensureTopics } from '@nuri/platform/kafka/admin';
import { createEventProducer, type EventProducer } from '@nuri/platform/kafka/producer';
import { prefixTopics } from '@nuri/platform/service';
import { freePorts } from '@nuri/platform/testing';
import { defaultTopics, topicsToEnsure } from '../../services/core-payment/src/events/topics.ts';
import { environmentWithSecrets, internalTokenVariable, serviceEnvironment } from '../../src/cli/secrets.ts';
import { serviceEntry, services } from '../../src/cli/services.ts';
import { mapConcurrently } from './api.ts';
import { progress } from './progress.ts';

export interface CoreAccount {
  accountNo: string;
  userUuid: string;
}

export interface DepositsSettled {
  completed: number;
  /** Σ won of the COMPLETED ones, as the core sums it. */
  completedWon: bigint;
  failed: number;
}

/** As the per-area script had them: each of the core's two deposit consumers gets two partitions. */
const topicPartitions = 4;
const readyTimeoutMs = 90_000;
const stopTimeoutMs = 15_000;
const fundingTimeoutMs = 180_000;
const fundingPollMs = 250;
const requestTimeoutMs = 30_000;
/** Deposits produced per send: one batch each, several in flight (the producer's window). */
const produceChunk = 2_000;
const openConcurrency = 16;
const readConcurrency = 16;

/** What the run names after itself: the core's database, topics and consumer groups. */
function namesOf(runKey: string) {
  const prefix = `bench.${runKey}.core.`;
  const topics = prefixTopics(defaultTopics, prefix);
  return {
    database: `nuri_core_payment_bench_${runKey}`,
    prefix,
    topics,
    topicNames: topicsToEnsure(topics),
  };
}
type Names = ReturnType<typeof namesOf>;

/** The internal callers the core accepts, each with a token of this run's. */
type Tokens = Record<'channel-user' | 'coupon' | 'ops', string>;

export class OwnCore {
  readonly url: string;
  /** Opened through the internal route, one user each, each funded with one deposit. */
  accounts: CoreAccount[] = [];
  private readonly tokens: Tokens;
  private readonly names: Names;
  private readonly child: ChildProcess;
  private readonly producer: EventProducer;
  private readonly infrastructure: { pgUrl: string; brokers: string[] };
  private readonly killOnExit: () => void;

  constructor(parts: {
    url: string;
    tokens: Tokens;
    names: Names;
    child: ChildProcess;
    infrastructure: { pgUrl: string; brokers: string[] };
    runKey: string;
  }) {
    this.url = parts.url;
    this.tokens = parts.tokens;
    this.names = parts.names;
    this.child = parts.child;
    this.infrastructure = parts.infrastructure;
    this.producer = createEventProducer({
      brokers: parts.infrastructure.brokers,
      clientId: `bench-core-${parts.runKey}`,
      inFlightMax: 8,
    });
    // The suite may end without stop() (a signal): the core must not outlive it.
    this.killOnExit = () => this.child.kill('SIGKILL');
    process.once('exit', this.killOnExit);
  }

  /** channel-user's token at this core: it opens accounts, reads them and withdraws. */
  get channelToken(): string {
    return this.tokens['channel-user'];
  }

  /** One deposit.requested per item to the core's topic, acked by the broker; their ids, ascending. */
  async produceDeposits(items: ReadonlyArray<{ account: CoreAccount; won: number }>, label: string) {
    const events = items.map(({ account, won }, index) =>
      createEvent(
        'deposit.requested',
        {
          depositId: uuidv7(),
          accountNo: account.accountNo,
          userUuid: account.userUuid,
          amount: won,
          requestedAt: new Date().toISOString(),
        },
        { source: 'bench', correlationId: `${label}-${index}` },
      ),
    );
    const topic = this.names.topics.depositRequested;
    const sends: Promise<void>[] = [];
    for (let start = 0; start < events.length; start += produceChunk) {
      const chunk = events.slice(start, start + produceChunk);
      sends.push(this.producer.sendEvents(chunk.map((event) => ({ topic, key: messageKey(event), event }))));
    }
    await Promise.all(sends);
    return events.map((event) => event.data.depositId);
  }

  /** What the core settled of the deposits with ids from `fromId` on (its deposit-totals route). */
  async settledSince(fromId: string): Promise<DepositsSettled> {
    // One index range count: cheap next to the deposits it waits on, and
    // only this run's rows (ids are UUIDv7 from the suite's one process).
    const range = `from=${fromId}&to=${uuidv7Floor(Date.now() + 60_000)}`;
    const totals = (await this.call('ops', 'GET', `/internal/v1/deposit-totals?${range}`)) as {
      byStatus: Record<string, { count: number; amount: string }>;
    };
    return {
      completed: totals.byStatus.COMPLETED?.count ?? 0,
      completedWon: BigInt(totals.byStatus.COMPLETED?.amount ?? '0'),
      failed: totals.byStatus.FAILED?.count ?? 0,
    };
  }

  /** Every account's balance, read through the internal route: accountNo → won. */
  async balances(accounts: readonly CoreAccount[]): Promise<Map<string, number>> {
    const answers = await mapConcurrently(accounts, readConcurrency, (account) =>
      this.call(
        'channel-user',
        'GET',
        `/internal/v1/accounts/${account.accountNo}?userUuid=${account.userUuid}`,
      ),
    );
    return new Map(answers.map((answer) => [answer.accountNo as string, answer.balance as number]));
  }

  /** The core's own reconciliation: balance = ledger, balanced transactions, each deposit applied once. */
  async reconciliation(): Promise<{ ok: boolean; detail: string }> {
    const report = await this.call('ops', 'GET', '/internal/v1/reconciliation');
    const problems = [
      `${report.balanceMismatches.length} balance mismatches`,
      `${report.unbalancedTransactions.length} unbalanced transactions`,
      `${report.duplicateApplications.length} duplicate applications`,
      `money supply ${report.moneySupply.ok ? 'adds up' : 'does not add up'}`,
    ];
    return { ok: report.ok === true, detail: `${report.accountsChecked} accounts: ${problems.join(', ')}` };
  }

  /** Opens `count` accounts, one new user each, and funds each with one deposit of `won`. */
  async openFundedAccounts(count: number, won: number, label: string): Promise<void> {
    this.accounts = await mapConcurrently(Array.from({ length: count }), openConcurrency, async () => {
      const userUuid = uuidv7();
      const opened = await this.call('channel-user', 'POST', '/internal/v1/accounts', { userUuid });
      return { accountNo: opened.accountNo as string, userUuid };
    });
    const ids = await this.produceDeposits(
      this.accounts.map((account) => ({ account, won })),
      label,
    );
    await awaitSettled(this, ids[0]!, ids.length, fundingTimeoutMs, fundingPollMs);
  }

  async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`core-payment exited with ${this.child.exitCode} while starting`);
      }
      const status = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(2_000) }).then(
        (response) => response.status,
        // Not listening yet.
        () => 0,
      );
      if (status === 200) return;
      await sleep(200);
    }
    throw new Error(`core-payment at ${this.url} was not ready within ${readyTimeoutMs} ms`);
  }

  /** Stops the core and drops its database and topics. */
  async stop(): Promise<void> {
    await this.producer.close().catch(() => undefined);
    await stopChild(this.child);
    process.removeListener('exit', this.killOnExit);
    await deleteTopics(this.infrastructure.brokers, this.names.topicNames).catch(() => undefined);
    await dropPgDatabase(this.infrastructure.pgUrl, this.names.database);
  }

  private async call(caller: keyof Tokens, method: 'GET' | 'POST', path: string, body?: unknown) {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.tokens[caller]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    if (response.status >= 300)
      throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
    // biome-ignore lint/suspicious/noExplicitAny: answers of our own internal API, read by field
    return JSON.parse(text) as any;
  }
}

function key256(): string {
  return randomBytes(32).toString('base64url');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(stopTimeoutMs)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** core-payment's server.ts with this run's database, topics, groups and tokens, on `port`. */
function spawnCore(options: {
  pgUrl: string;
  brokers: string[];
  port: number;
  names: Names;
  tokens: Tokens;
  instrumentation: Readonly<Record<string, string>>;
}): ChildProcess {
  const spec = services.find((service) => service.name === 'core-payment')!;
  const { prefix, database } = options.names;
  const env = serviceEnvironment(spec, {
    ...environmentWithSecrets(),
    ...options.instrumentation,
    ...Object.fromEntries(
      Object.entries(options.tokens).map(([caller, token]) => [internalTokenVariable(caller), token]),
    ),
    NURI_PG_URL: options.pgUrl,
    NURI_KAFKA_BROKERS: options.brokers.join(','),
    NURI_KAFKA_TOPIC_PREFIX: prefix,
    NURI_CORE_PAYMENT_PORT: String(options.port),
    NURI_CORE_PAYMENT_DB: database,
    NURI_CORE_PAYMENT_DEPOSITS_GROUP_ID: `${prefix}deposits`,
    NURI_CORE_PAYMENT_PAYMENTS_GROUP_ID: `${prefix}payments`,
    NURI_CORE_PAYMENT_COUPONS_GROUP_ID: `${prefix}coupons`,
    NURI_LOG_LEVEL: process.env.NURI_E2E_LOG_LEVEL ?? 'warn',
  });
  const child = spawn(process.execPath, [serviceEntry(spec, 'server.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Its log lines (warnings and worse) go with the suite's progress, not into the summary on stdout.
  child.stdout?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  return child;
}

/**
 * Starts the core and opens `accountCount` accounts, each funded with one
 * deposit of `fundingWon`. `instrumentation` is what the system's services
 * got too (--cpu-prof, the span sink).
 */
export async function startOwnCore(options: {
  pgUrl: string;
  brokers: string[];
  runKey: string;
  accountCount: number;
  fundingWon: number;
  instrumentation: Readonly<Record<string, string>>;
}): Promise<OwnCore> {
  const { pgUrl, brokers, runKey } = options;
  const names = namesOf(runKey);
  const tokens: Tokens = { 'channel-user': key256(), coupon: key256(), ops: key256() };
  const port = (await freePorts(1))[0]!;
  await ensurePgDatabase(pgUrl, names.database);
  await ensureTopics({
    brokers,
    topics: names.topicNames.map((name) => ({ name, partitions: topicPartitions })),
  });
  const child = spawnCore({ pgUrl, brokers, port, names, tokens, instrumentation: options.instrumentation });
  const core = new OwnCore({
    url: `http://127.0.0.1:${port}`,
    tokens,
    names,
    child,
    infrastructure: { pgUrl, brokers },
    runKey,
  });
  try {
    await core.waitUntilReady();
    progress(`core-payment of its own on ${core.url}: opening ${options.accountCount} accounts`);
    await core.openFundedAccounts(options.accountCount, options.fundingWon, `${runKey}-funding`);
    return core;
  } catch (error) {
    await core.stop();
    throw error;
  }
}

/**
 * Waits until the core settled `count` deposits from `fromId` on, asking
 * every `pollMs`; `onPoll` sees each answer. Resolves with when it saw the
 * last one settled, throws after `timeoutMs`.
 */
export async function awaitSettled(
  core: OwnCore,
  fromId: string,
  count: number,
  timeoutMs: number,
  pollMs: number,
  onPoll: (settled: DepositsSettled, atMs: number) => void = () => undefined,
): Promise<{ settled: DepositsSettled; atMs: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const settled = await core.settledSince(fromId);
    const atMs = Date.now();
    onPoll(settled, atMs);
    if (settled.completed + settled.failed >= count) return { settled, atMs };
    if (atMs > deadline) {
      throw new Error(
        `${count - settled.completed - settled.failed} of ${count} deposits unsettled after ${timeoutMs} ms`,
      );
    }
    await sleep(pollMs);
  }
}
