// One chaos run, start to finish: the infrastructure the run owns (a Kafka
// broker, a Redis, the core zone's network namespace), a whole system on it,
// customers, the load and the seeded faults at once, then — once every fault
// has healed — the client's record held against the bank, and the report.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { allTopics, dlqTopic } from '@nuri/contracts/events';
import { dlqReplaysTopic, listDeadLetters } from '@nuri/platform/kafka/dlq';
import { parseUrlList } from '@nuri/platform/upstream';
import { describeMachine, loadAverage } from '../bench/suite/machine.ts';
import { startTestSystem, type TestSystem } from '../e2e/harness.ts';
import { reconciliationChecks } from '../src/cli/commands/reconcile.ts';
import { loadCliConfig } from '../src/cli/config.ts';
import { rootDir } from '../src/cli/paths.ts';
import { environmentWithSecrets } from '../src/cli/secrets.ts';
import {
  type BankState,
  type ConsumerLag,
  checkAvailability,
  checkConsumersCaughtUp,
  checkCouponAnswers,
  checkCoupons,
  checkDeadLetters,
  checkDefinite,
  checkDeposits,
  checkExits,
  checkMoney,
  checkPaymentsTerminal,
  checkPoints,
  checkReadable,
  checkReconciliation,
  checkServerErrorShape,
  checkServerErrorsExplained,
  checkStatementOrder,
  checkTransfers,
  checkWithdrawals,
  type DeadLetterSummary,
  eachLimited,
  eventWindowOf,
  faultGraceMs,
  type Invariant,
  type PointLine,
  Reader,
  type StatementLine,
} from './checker.ts';
import { type FaultEvent, runSchedule } from './faults.ts';
import { type ChaosBroker, type ChaosRedis, createBroker, createRedis } from './infra.ts';
import { LogScanner } from './logs.ts';
import { type ChaosOptions, reproduceCommand } from './options.ts';
import { progress, timestamp } from './progress.ts';
import { seededRandom } from './random.ts';
import { type ChaosReport, secondsOf, summarizeOperations, summaryTable, writeReport } from './report.ts';
import { coreZoneKinds, describeFault, planFaults } from './schedule.ts';
import { Workload } from './workload.ts';
import { type CoreZone, createCoreZone, removeStaleZones, zoneUnavailableReason } from './zone.ts';

const coreServices = ['core-user', 'core-payment'];
/** The saga's re-send timeout (point's NURI_POINT_PAYMENT_TIMEOUT_MS default): a payment is terminal within it. */
const paymentTimeoutMs = 30_000;
const availabilityRequired = 0.99;
const reconcileWaitMs = 90_000;
const progressEveryMs = 5_000;
/** The client's attempt timeout (e2e/workload.ts), and a little more. */
const slowestAttemptMs = 16_000;

/** The run could not be made (a missing tool, no root): exit 2, not a broken invariant. */
export class ChaosSetupError extends Error {}

export async function runChaos(options: ChaosOptions): Promise<number> {
  const startedAt = Date.now();
  const folder = join(rootDir, 'chaos', 'results', timestamp(startedAt));
  mkdirSync(folder, { recursive: true });
  const machine = describeMachine(rootDir);
  const loadBefore = loadAverage();
  const config = loadCliConfig(process.env);
  const random = seededRandom(options.seed);
  progress(
    `seed ${options.seed}; ${options.durationS} s at ${options.rate} operations/s; faults ${options.faults.join(', ')}`,
  );
  progress(`results in ${relative(process.cwd(), folder)}`);

  const zoneWanted = options.faults.some((kind) => coreZoneKinds.has(kind));
  if (zoneWanted) {
    const reason = await zoneUnavailableReason(config.NURI_PG_URL);
    if (reason !== undefined) {
      throw new ChaosSetupError(
        `the partition and latency faults need the core zone in a network namespace, but ${reason}; leave them out of --faults`,
      );
    }
    const stale = await removeStaleZones();
    if (stale.length > 0) progress(`removed namespaces left by earlier runs: ${stale.join(', ')}`);
  }

  let zone: CoreZone | undefined;
  let broker: ChaosBroker | undefined;
  let redis: ChaosRedis | undefined;
  let system: TestSystem | undefined;
  let workload: Workload | undefined;
  const logs = new LogScanner(join(folder, 'logs'), () => workload?.people() ?? []);
  const stop = async (signal: string) => {
    progress(`${signal}: stopping everything the run started`);
    await system?.shutdown().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
    await zone?.remove().catch(() => undefined);
    process.exit(130);
  };
  // The harness exits at once on these signals (its instances die with it); the run cleans up
  // what it made first: databases, topics, the broker, Redis, the namespace.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => void stop(signal));
  }
  try {
    if (zoneWanted) {
      zone = await createCoreZone({
        services: coreServices,
        pgUrl: config.NURI_PG_URL,
        kafkaBrokers: () => broker!.zoneAddress!,
      });
      progress(
        `core zone: namespace ${zone.namespace}, ${zone.zoneAddress} ↔ ${zone.hostAddress} (veth); tc netem ${zone.netem ? 'available' : 'not in this kernel: latency falls back to loss + a bottleneck'}`,
      );
    }
    broker = await createBroker(join(folder, 'kafka'), zone?.hostAddress);
    progress(
      `starting the run's Kafka broker on ${broker.address}${broker.zoneAddress ? ` (and ${broker.zoneAddress} for the core zone)` : ''}`,
    );
    await broker.start();
    redis = await createRedis(join(folder, 'redis'));
    await redis.start();
    progress(`the run's Redis on ${redis.url}; starting the system`);
    system = await startTestSystem({
      scale: options.scale,
      onOutputLine: logs.take,
      envOverrides: {
        NURI_KAFKA_BROKERS: broker.address,
        NURI_REDIS_URL: redis.url,
        // Info: every request's lines, so that the PII scan reads what production would log.
        NURI_LOG_LEVEL: 'info',
        // Two instances of three PostgreSQL services share the machine's server (100 connections) with others.
        NURI_PG_POOL_SIZE_MAX: '5',
        NURI_MYSQL_POOL_SIZE_MAX: '5',
        NURI_ACCESS_TOKEN_TTL_SECONDS: '3600',
        // A coupon stranded by a kill is re-sent by the recovery job: run it often.
        NURI_COUPON_RECOVERY_INTERVAL_MS: '2000',
      },
      ...(zone === undefined
        ? {}
        : {
            hosts: Object.fromEntries(coreServices.map((service) => [service, zone!.zoneAddress])),
            placeInstance: zone.placeInstance,
          }),
    });
    const secrets = environmentWithSecrets(system.env);
    const instances = system.supervisor.list();
    progress(
      `system up: ${instances.map((instance) => instance.name).join(', ')}; gateway ${system.gatewayUrl}`,
    );

    const plan = planFaults(random.fork('faults'), {
      durationS: options.durationS,
      kinds: options.faults,
      instances: instances.map((instance) => ({ name: instance.name, service: instance.service })),
    });
    progress(
      `fault schedule (${plan.length}):\n${plan.map((fault) => `    ${describeFault(fault)}`).join('\n')}`,
    );

    const running = new Workload(system.gatewayUrl, random, {
      rate: options.rate,
      customers: options.customers,
      customersMax: options.customers * 2,
      adminToken: secrets.NURI_ADMIN_TOKEN!,
      campaignEveryMs: 30_000,
    });
    workload = running;
    await running.setUp(progress);
    progress('customers funded; the load starts');

    const loadStartedAt = Date.now();
    let loadOver = false;
    const events: FaultEvent[] = [];
    const ticker = setInterval(() => reportProgress(running, events, loadStartedAt), progressEveryMs);
    const faults = runSchedule(
      plan,
      {
        system,
        zone,
        broker,
        redis,
        pgUrl: config.NURI_PG_URL,
        mysqlUrl: config.NURI_MYSQL_URL,
        burst: (count) => running.burst(count),
        log: progress,
      },
      loadStartedAt,
      () => loadOver,
    ).then((done) => {
      events.push(...done);
      return done;
    });
    await running.offer(options.durationS * 1_000);
    loadOver = true;
    await faults;
    clearInterval(ticker);
    const loadEndedAt = Date.now();

    progress(
      `load over; ${running.inFlight()} operations still retrying for their answer (at most ${options.healS} s)`,
    );
    const healDeadline = Date.now() + options.healS * 1_000;
    const left = await running.drain(options.healS * 1_000);
    if (left > 0) progress(`${left} operations got no definite answer`);
    const reader = new Reader(system.gatewayUrl);
    progress('settling deposits and payments');
    await settle(reader, running, healDeadline);
    const lag = await consumerLag(reader, secrets.NURI_ADMIN_TOKEN!);
    progress('reading balances, statements, wallets and coupons');
    const state = await readState(reader, running, system, secrets.NURI_INTERNAL_TOKEN_OPS!, healDeadline);
    progress('reconciliation (nuri reconcile against this system) and the DLQs');
    const reconciliation = await reconcileUntilClean(system, secrets.NURI_INTERNAL_TOKEN_OPS!);
    const letters = await deadLetters(broker.address, system.env.NURI_KAFKA_TOPIC_PREFIX ?? '', events);
    const checkedAt = Date.now();

    const operations = running.operations;
    const attempts = running.client.attempts;
    const availability = checkAvailability(attempts, events, availabilityRequired);
    const invariants: Invariant[] = [
      checkDefinite(operations),
      checkReadable(state),
      checkMoney(operations, state),
      checkStatementOrder(state),
      checkDeposits(operations, state),
      checkWithdrawals(operations, state),
      checkTransfers(operations, state),
      reconciliation,
      checkPaymentsTerminal(operations, events, paymentTimeoutMs),
      checkPoints(operations, state),
      checkCoupons(operations, running.campaigns, state),
      checkCouponAnswers(operations, state),
      availability.invariant,
      checkServerErrorShape(attempts, running.badServerErrors),
      checkServerErrorsExplained(attempts, events),
      checkDeadLetters(letters),
      checkConsumersCaughtUp(lag),
      logs.invariant(),
      checkExits(system.supervisor.list(), events),
    ];
    const report: ChaosReport = {
      ok: invariants.every((check) => check.ok),
      seed: options.seed,
      reproduce: reproduceCommand(options),
      options,
      machine,
      loadAverage: { before: loadBefore, after: loadAverage() },
      times: {
        started: new Date(startedAt).toISOString(),
        loadStarted: new Date(loadStartedAt).toISOString(),
        loadEnded: new Date(loadEndedAt).toISOString(),
        checked: new Date(checkedAt).toISOString(),
        finished: new Date().toISOString(),
      },
      topology: system.topology.instances.map((instance) => ({
        name: instance.name,
        service: instance.service.name,
        where: zone?.services.has(instance.service.name) ? `core zone ${instance.url}` : instance.url,
      })),
      zone:
        zone === undefined
          ? null
          : {
              method:
                'network namespace + veth pair; a cut drops every packet on the namespace end (iptables)',
              namespace: zone.namespace,
              hostAddress: zone.hostAddress,
              zoneAddress: zone.zoneAddress,
              netem: zone.netem,
            },
      infra: {
        kafka: broker.address,
        redis: redis.url,
        postgres: new URL(config.NURI_PG_URL).host,
        mariadb: new URL(config.NURI_MYSQL_URL).host,
      },
      schedule: plan,
      faults: events,
      series: secondsOf(
        attempts,
        loadStartedAt,
        Math.max(loadEndedAt, ...attempts.map((attempt) => attempt.at + 1)),
      ),
      operations: summarizeOperations(operations, running.shed),
      availability: availability.windows,
      deadLetters: letters,
      consumerLag: lag,
      logs: { lines: logs.totalLines(), byInstance: Object.fromEntries(logs.linesByInstance) },
      invariants,
      notes: runNotes(options, zone),
    };
    const written = writeReport(folder, report);
    // Every attempt, one a line: the per-second series and the fault windows can be checked again from it.
    writeFileSync(
      join(folder, 'attempts.ndjson'),
      attempts.map((attempt) => JSON.stringify(attempt)).join('\n'),
    );
    // The client's whole record, one operation a line: what each invariant was checked against.
    writeFileSync(
      join(folder, 'operations.ndjson'),
      operations.map((operation) => JSON.stringify(operation)).join('\n'),
    );
    process.stdout.write(
      `\n${summaryTable(report)}\n\n${report.ok ? 'EVERY INVARIANT HELD' : 'INVARIANTS BROKEN'}\n`,
    );
    process.stdout.write(
      `report: ${relative(process.cwd(), written.html)} (and report.json)\nrepeat: ${report.reproduce}\n`,
    );
    return report.ok ? 0 : 1;
  } finally {
    progress('stopping the system and the run’s infrastructure');
    await system?.shutdown().catch((error: Error) => progress(`shutdown: ${error.message}`));
    await broker?.stop().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
    await zone?.remove().catch((error: Error) => progress(`removing the namespace: ${error.message}`));
    rmSync(join(folder, 'kafka', 'data'), { recursive: true, force: true });
    rmSync(join(folder, 'redis', 'dump.rdb'), { force: true });
  }
}

function runNotes(options: ChaosOptions, zone: CoreZone | undefined): string[] {
  const notes = [
    'The seed fixes the fault schedule and the sequence of operations the client draws; which attempt meets which fault depends on timing, so a repeat meets the same faults at the same times under the same kind of load, not byte for byte the same requests.',
    `Faults run one at a time with gaps; a 5xx or a dead letter within ${faultGraceMs / 1_000} s of what a fault broke being back (after Redis lost its state, also the coupon rebuild's settling) counts as that fault's.`,
  ];
  if (zone !== undefined && !zone.netem) {
    notes.push(
      'This kernel has no tc netem (CONFIG_NET_SCH_NETEM): the latency fault is packet loss (iptables statistic) and a tc tbf bottleneck on the veth instead of a fixed delay.',
    );
  }
  if (options.faults.includes('pg') || options.faults.includes('mariadb')) {
    notes.push(
      'PostgreSQL and MariaDB are the machine’s shared servers: their restarts were felt by anything else running on it.',
    );
  }
  return notes;
}

function reportProgress(workload: Workload, events: readonly FaultEvent[], loadStartedAt: number): void {
  const attempts = workload.client.attempts;
  const since = Date.now() - progressEveryMs;
  let answered = 0;
  let serverErrors = 0;
  let noAnswer = 0;
  // Attempts are recorded when they end, stamped with when they began: a slow one sits among later ones.
  for (
    let index = attempts.length - 1;
    index >= 0 && attempts[index]!.at >= since - slowestAttemptMs;
    index -= 1
  ) {
    if (attempts[index]!.at < since) continue;
    const status = attempts[index]!.status;
    if (status === 'network') noAnswer += 1;
    else {
      answered += 1;
      if (status >= 500) serverErrors += 1;
    }
  }
  const open = events.at(-1);
  const fault =
    open !== undefined && open.healedAt === undefined ? `; fault #${open.id} ${open.kind} on` : '';
  progress(
    `${Math.round((Date.now() - loadStartedAt) / 1_000)} s: ${(answered / (progressEveryMs / 1_000)).toFixed(0)} answers/s, ` +
      `${serverErrors} 5xx, ${noAnswer} unanswered in the last ${progressEveryMs / 1_000} s; ${workload.inFlight()} in flight, ${workload.operations.length} operations${fault}`,
  );
}

/** Reads every accepted deposit and payment until it leaves PENDING, or the deadline. */
async function settle(reader: Reader, workload: Workload, deadline: number): Promise<void> {
  const pending = () =>
    workload.operations.filter(
      (operation) =>
        ((operation.kind === 'deposit' && operation.status === 202) ||
          (operation.kind === 'payment' && operation.status === 202)) &&
        (operation.settled === undefined || operation.settled.status === 'PENDING'),
    );
  for (let round = pending(); round.length > 0 && Date.now() < deadline; round = pending()) {
    await eachLimited(round, async (operation) => {
      const path =
        operation.kind === 'deposit'
          ? `/api/v1/deposits/${operation.ref}`
          : `/api/v1/payments/${operation.ref}`;
      const answer = await reader.get(path, workload.tokenOf(operation.customer)).catch(() => undefined);
      if (answer?.status !== 200) return;
      operation.settled = {
        status: answer.body.status,
        ...(answer.body.settledAt === undefined ? {} : { at: answer.body.settledAt }),
        ...(answer.body.failureCode === undefined ? {} : { failureCode: answer.body.failureCode }),
        readAt: Date.now(),
      };
    });
    if (pending().length > 0) await sleep(1_000);
  }
}

async function readState(
  reader: Reader,
  workload: Workload,
  system: TestSystem,
  opsToken: string,
  deadline: number,
): Promise<BankState> {
  const state: BankState = {
    accounts: new Map(),
    wallets: new Map(),
    coupons: new Map(),
    campaigns: new Map(),
    unreadable: [],
  };
  const customers = workload.customers.filter((customer) => customer.accounts.length > 0);
  // What cannot be read is a finding of its own (bank-readable), never a crash of the checker.
  const attempt = async (what: string, read: () => Promise<void>) => {
    try {
      await read();
    } catch (error) {
      state.unreadable.push(`${what}: ${(error as Error).message}`);
    }
  };
  await eachLimited(customers, async (customer) => {
    const token = workload.tokenOf(customer.index);
    for (const accountNo of customer.accounts) {
      await attempt(`account ${accountNo}`, async () => {
        const account = await reader.get(`/api/v1/accounts/${accountNo}`, token);
        const lines = await reader.all<StatementLine>(`/api/v1/accounts/${accountNo}/transactions`, token);
        state.accounts.set(accountNo, { balance: account.body.balance, lines, owner: customer.index });
      });
    }
    await attempt(`points of customer ${customer.index}`, async () => {
      const wallet = await reader.get('/api/v1/points', token);
      const history = await reader.all<PointLine>('/api/v1/points/history', token);
      state.wallets.set(customer.index, { balance: wallet.body.balance, lines: history });
    });
    await attempt(`coupons of customer ${customer.index}`, async () => {
      const coupons = await reader.get('/api/v1/coupons', token);
      state.coupons.set(customer.index, coupons.body.items ?? []);
    });
  });
  // The core records a coupon from Kafka after the 201: wait, within the heal budget, until each campaign's counts agree.
  const anyToken = workload.tokenOf(customers[0]!.index);
  const coreUrls = parseUrlList(system.env.NURI_CORE_PAYMENT_URL ?? '');
  for (const campaign of workload.campaigns) {
    await attempt(`campaign ${campaign.campaignId}`, async () => {
      for (;;) {
        const read = await reader.get(`/api/v1/coupon-campaigns/${campaign.campaignId}`, anyToken, 20_000);
        const recorded = await recordedCount(coreUrls, campaign.campaignId, opsToken);
        state.campaigns.set(campaign.campaignId, {
          quantity: read.body.quantity,
          issued: read.body.issued,
          remaining: read.body.remaining,
          recorded,
        });
        if (recorded === read.body.issued || Date.now() > deadline) break;
        await sleep(1_000);
      }
    });
  }
  return state;
}

/** Each consumer group's lag once the run has settled (the operator console's view, GET /api/v1/admin/kafka/lag). */
async function consumerLag(reader: Reader, adminToken: string): Promise<ConsumerLag> {
  try {
    const answer = await reader.get('/api/v1/admin/kafka/lag', adminToken, 20_000);
    if (answer.status !== 200) return { reachable: false, items: [], error: `answered ${answer.status}` };
    return { reachable: answer.body.brokerReachable === true, items: answer.body.items ?? [] };
  } catch (error) {
    return { reachable: false, items: [], error: (error as Error).message };
  }
}

async function recordedCount(
  coreUrls: readonly string[],
  campaignId: string,
  token: string,
): Promise<number | undefined> {
  for (const url of coreUrls) {
    try {
      const response = await fetch(`${url}/internal/v1/coupon-campaigns/${campaignId}/recorded-count`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5_000),
      });
      if (response.status === 200) return ((await response.json()) as { recorded: number }).recorded;
    } catch {
      // the next instance
    }
  }
  return undefined;
}

/** `nuri reconcile` against this system, again each second until clean or the wait is over. */
async function reconcileUntilClean(system: TestSystem, opsToken: string): Promise<Invariant> {
  const started = Date.now();
  const config = loadCliConfig(system.env);
  let problems: string[] = [];
  let error: string | undefined;
  while (Date.now() - started < reconcileWaitMs) {
    try {
      const services = await reconciliationChecks(config, opsToken);
      problems = services.flatMap(({ service, checks }) =>
        checks
          .filter((check) => !check.ok)
          .map((check) => `${service}: ${check.label}: ${check.findings.join('; ') || check.summary}`),
      );
      error = undefined;
      if (problems.length === 0) break;
    } catch (failure) {
      error = `could not be asked: ${(failure as Error).message}`;
    }
    await sleep(1_000);
  }
  return checkReconciliation(problems, Date.now() - started, error);
}

async function deadLetters(
  broker: string,
  prefix: string,
  events: readonly FaultEvent[],
): Promise<DeadLetterSummary[]> {
  const topics = allTopics.map((topic) => `${prefix}${dlqTopic(topic)}`);
  const letters = await listDeadLetters([broker], topics, `${prefix}${dlqReplaysTopic}`);
  return letters.map((letter) => ({
    ref: letter.ref,
    topic: letter.topic,
    eventType: letter.eventType,
    failedAt: letter.failedAt,
    group: letter.group,
    error: letter.error,
    fault: eventWindowOf(events, Date.parse(letter.failedAt))?.id,
  }));
}
