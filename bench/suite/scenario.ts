// What a scenario is to the suite, what it has to work with, and the seeds
// (customers, accounts, points, tokens, a core-payment of its own) it asks
// for — each made once, through the public API where there is one, by the
// first scenario that needs it.
import assert from 'node:assert/strict';
import { uuidv7 } from '@nuri/platform/ids';
import { Api, type Customer, fundAccounts, mapConcurrently, refreshTokens, signUpCustomers } from './api.ts';
import { runLoad } from './load.ts';
import type { LoadResult, LoadSpec } from './load-types.ts';
import { type CpuBreakdown, type CpuSnapshot, cpuBreakdown, cpuSnapshot } from './machine.ts';
import type { ScenarioName, SuiteOptions } from './options.ts';
import { type OwnCore, startOwnCore } from './own-core.ts';
import { type PeerCoupon, startPeerCoupon } from './peer-coupon.ts';
import { progress } from './progress.ts';
import type { Invariant } from './report.ts';
import type { Spread } from './stats.ts';
import type { BenchSystem } from './system.ts';

/** The machine's ceilings a scenario can be compared with (ceilings.ts measures them). */
export type CeilingName =
  | 'bare-fastify'
  | 'bare-proxy'
  | 'jwks-direct'
  | 'jwks-gateway'
  | 'redis-evalsha'
  | 'issue-route'
  | 'pgbench-n'
  | 'kafka-producer'
  | 'coupon-hand-off'
  | 'argon2id-verify';

export interface RunOutcome {
  figure: number;
  figures: Record<string, number>;
  load: LoadResult;
  /**
   * Where the CPU went from the start of the load until the operations were
   * complete (for deposits, payments and coupons: settled, recorded).
   */
  cpu: CpuBreakdown;
  /** The operations that CPU bought: what CPU per operation divides by. */
  operations: number;
  /** The load's answers plus those of the in-doubt requests settled afterwards. */
  statuses: Record<string, number>;
  invariants: Invariant[];
}

export interface Scenario {
  name: ScenarioName;
  title: string;
  /** What it does and what it checks, for the report. */
  description: string;
  unit: string;
  higherIsBetter: boolean;
  defaultRuns: number;
  target: {
    text: string;
    met?: (figures: { figure: Spread; p99Ms: Spread; named: Record<string, Spread> }) => boolean;
  };
  /** `figure` is the headline; any other name refers to RunOutcome.figures. */
  comparisons: ReadonlyArray<{ figure: string; ceiling: CeilingName }>;
  /**
   * The process groups CPU per operation counts (machine.ts names them);
   * absent: every group of the system. Scenarios below the services name
   * theirs, so that the system's idle services are not billed to them.
   */
  measuredGroups?: readonly string[];
  /**
   * True when it needs only the shared servers (PostgreSQL, MariaDB, Redis,
   * Kafka), not the system: a run of such scenarios alone boots none of it.
   */
  withoutSystem?: boolean;
  prepare(context: SuiteContext): Promise<void>;
  /**
   * Run `run` (1, 2, …), or the warm-up before them (0, unless --no-warm-up):
   * the suite checks its invariants but leaves it out of the figures.
   */
  run(context: SuiteContext, run: number): Promise<RunOutcome>;
}

/** Won per funding deposit: the most one operation may move (docs/api.md). */
export const fundingAmount = 100_000_000;
/** Points per charge: the most one charge may add (docs/api.md). */
export const pointsPerCharge = 1_000_000;
const fundingTimeoutMs = 120_000;

/** The shared servers the system runs on, for scenarios that go below the services. */
export interface Infrastructure {
  pgUrl: string;
  mysqlUrl: string;
  redisUrl: string;
  brokers: string[];
}

export class SuiteContext {
  readonly options: SuiteOptions;
  readonly infrastructure: Infrastructure;
  readonly cores: number;
  /** A prefix no earlier run used: idempotency keys and campaign names stay unique. */
  readonly runKey: string;
  /** What was seeded and how, for the report. */
  readonly seeding: string[] = [];
  /** pid → process group of everything the loads touched (names the --profile files). */
  readonly processGroups = new Map<number, string>();
  private customers?: Customer[];
  private hot?: Customer;
  private loginCrowd?: Customer[];
  private payerGroups?: { funded: Customer[]; unfunded: Customer[] };
  private crowd?: string[];
  private core?: Promise<OwnCore>;
  private peer?: Promise<PeerCoupon>;
  private peerCrowd?: string[];
  private readonly bootedSystem: BenchSystem | undefined;
  private readonly gatewayApi: Api | undefined;
  /** What a service the suite starts beside the system gets (BenchSystem.instrumentation). */
  private readonly instrumentation: Readonly<Record<string, string>>;

  /** `system` is undefined when every scenario of the run is `withoutSystem`. */
  constructor(
    system: BenchSystem | undefined,
    options: SuiteOptions,
    infrastructure: Infrastructure,
    instrumentation: Readonly<Record<string, string>>,
    cores: number,
    runKey: string,
  ) {
    this.bootedSystem = system;
    this.gatewayApi = system === undefined ? undefined : new Api(system.gatewayUrl);
    this.options = options;
    this.infrastructure = infrastructure;
    this.instrumentation = system?.instrumentation ?? instrumentation;
    this.cores = cores;
    this.runKey = runKey;
  }

  /** The system under test; asking for it in a run that did not boot it is a bug in a scenario's `withoutSystem`. */
  get system(): BenchSystem {
    assert(this.bootedSystem !== undefined, 'a scenario marked withoutSystem asked for the system');
    return this.bootedSystem;
  }

  /** The public API through the gateway. */
  get api(): Api {
    assert(this.gatewayApi !== undefined, 'a scenario marked withoutSystem asked for the gateway');
    return this.gatewayApi;
  }

  connections(scenarioDefault: number): number {
    return this.options.connections ?? scenarioDefault;
  }

  durationS(scenarioDefault: number): number {
    return this.options.durationS ?? scenarioDefault;
  }

  /**
   * Runs a load in the generator process and measures where the machine's CPU
   * went meanwhile; `cpuUntilNow` measures from the load's start to the moment
   * it is called, for operations that complete after their answer.
   */
  async load(
    spec: LoadSpec,
    label: string,
  ): Promise<{ load: LoadResult; cpu: CpuBreakdown; cpuUntilNow: () => CpuBreakdown }> {
    const before = cpuSnapshot();
    const load = await runLoad(spec, label);
    const after = cpuSnapshot();
    this.noteProcessGroups(after);
    // The generator measured itself (process.cpuUsage) and has exited by now.
    const cpu = cpuBreakdown(before, after, this.cores, { 'load generator': load.cpu.machineShare });
    const generatorShareSeconds = load.cpu.machineShare * cpu.windowS;
    const cpuUntilNow = () => {
      const now = cpuSnapshot();
      const windowS = Math.max(1e-3, (now.atMs - before.atMs) / 1_000);
      return cpuBreakdown(before, now, this.cores, { 'load generator': generatorShareSeconds / windowS });
    };
    return { load, cpu, cpuUntilNow };
  }

  /**
   * Where the machine's CPU goes from now until the returned function is
   * called, for work the load generator does not send (events produced to
   * Kafka, an outbox relayed): what the suite does meanwhile is its own group.
   */
  cpuFromNow(): () => CpuBreakdown {
    const before = cpuSnapshot();
    return () => {
      const after = cpuSnapshot();
      this.noteProcessGroups(after);
      return cpuBreakdown(before, after, this.cores);
    };
  }

  private noteProcessGroups(snapshot: CpuSnapshot): void {
    for (const [pid, { group }] of snapshot.groups) this.processGroups.set(pid, group);
  }

  /** A core-payment of the core-* scenarios' own, `--accounts` accounts funded (own-core.ts). */
  ownCore(): Promise<OwnCore> {
    if (this.core === undefined) {
      progress(`starting a core-payment of its own with ${this.options.coreAccounts} accounts`);
      this.core = startOwnCore({
        pgUrl: this.infrastructure.pgUrl,
        brokers: this.infrastructure.brokers,
        runKey: this.runKey,
        accountCount: this.options.coreAccounts,
        fundingWon: fundingAmount,
        instrumentation: this.instrumentation,
      }).then((core) => {
        this.seeding.push(
          `core-*: a core-payment of their own (its server.ts with its own database, topics, consumer groups and tokens only the suite holds), ${core.accounts.length.toLocaleString('en-US')} accounts opened through its internal route, one user each, each funded with one ${fundingAmount.toLocaleString('en-US')} won deposit.requested produced to its topic`,
        );
        return core;
      });
    }
    return this.core;
  }

  /**
   * The seed's coupon service, built from --peer-src and running beside the
   * system (peer-coupon.ts); one for every run of peer-coupon-seed.
   */
  peerCoupon(): Promise<PeerCoupon> {
    if (this.peer === undefined) {
      const peerSrc = this.options.peerSrc;
      if (peerSrc === undefined) {
        return Promise.reject(new Error("peer-coupon-seed needs the seed's checkout: pass --peer-src DIR"));
      }
      this.peer = startPeerCoupon({
        peerSrc,
        mysqlUrl: this.infrastructure.mysqlUrl,
        redisUrl: this.infrastructure.redisUrl,
        brokers: this.infrastructure.brokers,
        runKey: this.runKey,
      }).then((peer) => {
        this.seeding.push(
          `peer-coupon-seed: the seed's coupon service built with Maven from ${peer.serviceDir} in a temporary folder (removed at the end), run as one JVM against the shared Redis (its fixed keys in database 0), MariaDB (a database of this run's, dropped at the end) and Kafka (its fixed topic, deleted at the end); a campaign is its stock key set to --quantity and its users set and coupons table emptied`,
        );
        return peer;
      });
    }
    return this.peer;
  }

  /** `--crowd` userUuids for the seed's issue route, which takes the user as a query parameter and checks nothing. */
  peerUsers(): string[] {
    this.peerCrowd ??= Array.from({ length: this.options.crowd }, () => uuidv7());
    return this.peerCrowd;
  }

  /** Stops what the scenarios started beside the system (the core-* scenarios' core-payment, the seed's coupon service). */
  async close(): Promise<void> {
    const core = this.core;
    const peer = this.peer;
    this.core = undefined;
    this.peer = undefined;
    // One that failed to start has stopped itself.
    const startedPeer = await peer?.catch(() => undefined);
    await startedPeer?.stop();
    const startedCore = await core?.catch(() => undefined);
    await startedCore?.stop();
  }

  /** `--users` customers with 5 funded accounts each (withdraw, deposit, login). */
  async bankCustomers(): Promise<Customer[]> {
    if (this.customers === undefined) {
      progress(`seeding ${this.options.users} customers × 5 accounts through the gateway`);
      this.customers = await signUpCustomers(this.api, this.options.users, 5);
      await fundAccounts(this.api, this.customers, fundingAmount, fundingTimeoutMs);
      this.seeding.push(
        `${this.options.users} customers signed up and logged in through the gateway, 5 accounts each, each account funded with one ${fundingAmount.toLocaleString('en-US')} won deposit (withdraw, deposit, login)`,
      );
    }
    await refreshTokens(this.api, this.customers);
    return this.customers;
  }

  /**
   * Customers for the login storm. Round-robin over four per connection, a
   * loginId has one login in flight at a time, as a person would: channel-user
   * counts every attempt in flight towards the lockout until one succeeds, so
   * five of one person's logins at once lock even the right password out.
   */
  async loginCustomers(count: number): Promise<Customer[]> {
    if (this.loginCrowd === undefined || this.loginCrowd.length < count) {
      progress(`seeding ${count} customers for the logins`);
      this.loginCrowd = await signUpCustomers(this.api, count, 0);
      this.seeding.push(`${count} customers signed up through the gateway for login`);
    }
    return this.loginCrowd.slice(0, count);
  }

  /** One customer with one funded account that every connection of withdraw-hot hits. */
  async hotCustomer(): Promise<Customer> {
    if (this.hot === undefined) {
      progress('seeding the hot account');
      [this.hot] = await signUpCustomers(this.api, 1, 1);
      await fundAccounts(this.api, [this.hot!], fundingAmount, fundingTimeoutMs);
      this.seeding.push('1 customer with 1 funded account for withdraw-hot, through the gateway');
    }
    await refreshTokens(this.api, [this.hot!]);
    return this.hot!;
  }

  /**
   * Payment customers, one account each: the funded ones pay, the unfunded
   * ones' payments fail at the cash step. `needs` says how much cash each
   * funded account and how many points each customer must hold for every run.
   */
  async payers(
    needs: (pools: { funded: number; unfunded: number }) => { cashEach: number; pointsEach: number },
  ): Promise<{ funded: Customer[]; unfunded: Customer[] }> {
    if (this.payerGroups === undefined) {
      const total = 20;
      const fundedCount = Math.max(1, Math.round(total * (1 - this.options.failingShare)));
      const { cashEach, pointsEach } = needs({ funded: fundedCount, unfunded: total - fundedCount });
      progress(`seeding ${total} payment customers (${total - fundedCount} with empty accounts)`);
      const customers = await signUpCustomers(this.api, total, 1);
      const funded = customers.slice(0, fundedCount);
      const unfunded = customers.slice(fundedCount);
      for (let deposited = 0; deposited < cashEach; deposited += fundingAmount) {
        await fundAccounts(this.api, funded, fundingAmount, fundingTimeoutMs);
      }
      await mapConcurrently(customers, 4, async (customer) => {
        for (let charged = 0; charged < pointsEach; charged += pointsPerCharge) {
          await this.api.expect(200, 'POST', '/api/v1/points/charge', {
            token: customer.token,
            body: { amount: pointsPerCharge },
          });
        }
      });
      this.payerGroups = { funded, unfunded };
      this.seeding.push(
        `${total} payment customers through the gateway, 1 account each: ${fundedCount} funded with ${Math.ceil(cashEach / fundingAmount)} × ${fundingAmount.toLocaleString('en-US')} won, ${total - fundedCount} left empty (their payments fail); each charged ${pointsEach.toLocaleString('en-US')}+ points`,
      );
    }
    await refreshTokens(this.api, [...this.payerGroups.funded, ...this.payerGroups.unfunded]);
    return this.payerGroups;
  }

  /** Access tokens of `--crowd` distinct users for the coupon rush (minted: see README, Performance). */
  async crowdTokens(): Promise<string[]> {
    if (this.crowd === undefined) {
      progress(`minting ${this.options.crowd} access tokens for the coupon crowd`);
      this.crowd = await this.system.mintTokens(this.options.crowd);
      this.seeding.push(
        `coupon crowd: ${this.options.crowd.toLocaleString('en-US')} access tokens signed with this run's channel-user key for as many fresh userUuids (signing up that many through the API would cost ${this.options.crowd.toLocaleString('en-US')} argon2id hashes); campaigns created through the gateway's admin route`,
      );
    }
    return this.crowd;
  }
}

export function invariant(name: string, ok: boolean, detail: string): Invariant {
  return { name, ok, detail };
}

export function count(statuses: Record<string, number>, status: number): number {
  return statuses[String(status)] ?? 0;
}

export function describeStatuses(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}×${n}`)
    .join(' ');
}

/** How often a completion wait asks: each ask is one small query, cheap next to the load it waits on. */
const completionPollMs = 250;

/**
 * Waits until `pending()` says nothing is left, asking an internal count
 * route rather than reading each operation back through the gateway (which
 * would bill the services for the suite's own reads). Throws after timeoutMs.
 */
export async function awaitNonePending(
  what: string,
  pending: () => Promise<number>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await pending();
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`${left} ${what} still PENDING after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, completionPollMs));
  }
}

/** GET an internal route of one of the system's services with its ops token, as JSON. */
export async function getInternal<T>(context: SuiteContext, baseUrl: string, path: string): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    headers: { authorization: `Bearer ${context.system.opsToken}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}
