// The seed's coupon service, built and run beside the system for
// peer-coupon-seed: its sources from the checkout the user points at, linked
// into a temporary folder with the pom peer-seed.ts writes (nothing of it
// lands in this repository), `mvn package`, then its jar against the same
// Redis, MariaDB and Kafka as ours, with a database of this run's. Its
// Redis keys, topic and consumer group are names its code fixes
// (peerFixedNames): the run clears them before it starts and after it ends.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createMysqlDatabase,
  type Database,
  dropMysqlDatabase,
  ensureMysqlDatabase,
} from '@nuri/platform/db';
import { deleteTopics } from '@nuri/platform/kafka/admin';
import { createRedis, type Redis } from '@nuri/platform/redis';
import { freePorts } from '@nuri/platform/testing';
import { sql } from 'kysely';
import {
  peerArguments,
  peerFixedNames,
  peerJarName,
  peerJdbcOf,
  peerJvmOptions,
  peerPom,
  peerRedisOf,
  peerSpringBootVersion,
  resolvePeerServiceDir,
} from './peer-seed.ts';
import { progress } from './progress.ts';

/** The first build downloads Spring Boot's dependencies into ~/.m2; later ones take under a minute. */
const buildTimeoutMs = 15 * 60_000;
/** A Spring Boot start on two busy cores: JPA, Kafka and Redis clients, Tomcat. */
const readyTimeoutMs = 180_000;
const stopTimeoutMs = 20_000;
/** What of the build's or the service's output an error quotes. */
const outputTailChars = 4_000;

export interface PeerCampaign {
  /** Members of the users set: coupons the issue script handed out. */
  issued: number;
  /** The stock key; null when it is gone. */
  remaining: number | null;
}

export interface PeerRecorded {
  rows: number;
  users: number;
}

export class PeerCoupon {
  readonly url: string;
  readonly serviceDir: string;
  private readonly child: ChildProcess;
  private readonly workDir: string;
  private readonly logPath: string;
  private readonly database: string;
  private readonly redis: Redis;
  private readonly db: Database<unknown>;
  private readonly infrastructure: { mysqlUrl: string; brokers: string[] };
  private readonly killOnExit: () => void;

  constructor(parts: {
    url: string;
    serviceDir: string;
    child: ChildProcess;
    workDir: string;
    logPath: string;
    database: string;
    redis: Redis;
    db: Database<unknown>;
    infrastructure: { mysqlUrl: string; brokers: string[] };
  }) {
    this.url = parts.url;
    this.serviceDir = parts.serviceDir;
    this.child = parts.child;
    this.workDir = parts.workDir;
    this.logPath = parts.logPath;
    this.database = parts.database;
    this.redis = parts.redis;
    this.db = parts.db;
    this.infrastructure = parts.infrastructure;
    // The suite may end without stop() (a signal exits at once, e2e/harness.ts): the JVM must not
    // outlive it, nor its temporary folder; the next run clears the fixed keys and topic, and the
    // database is left as the system's own are.
    this.killOnExit = () => {
      this.child.kill('SIGKILL');
      rmSync(this.workDir, { recursive: true, force: true });
    };
    process.once('exit', this.killOnExit);
  }

  /**
   * A new campaign of `quantity`, as the seed's own scripts start one
   * (start-local.sh: `SET coupon:count`): nobody issued, the stock set, and
   * the coupons table emptied so that its rows are this campaign's.
   */
  async resetCampaign(quantity: number): Promise<void> {
    await this.redis.del(peerFixedNames.usersKey);
    await this.redis.set(peerFixedNames.stockKey, String(quantity));
    await sql.raw(`truncate table \`${peerFixedNames.table}\``).execute(this.db.db);
  }

  async campaign(): Promise<PeerCampaign> {
    const [issued, remaining] = await Promise.all([
      this.redis.scard(peerFixedNames.usersKey),
      this.redis.get(peerFixedNames.stockKey),
    ]);
    return { issued, remaining: remaining === null ? null : Number(remaining) };
  }

  /** What the seed's consumer saved: rows, and distinct users among them. */
  async recorded(): Promise<PeerRecorded> {
    const result = await sql<{ rows: string | number; users: string | number }>`
      select count(*) as \`rows\`, count(distinct user_uuid) as users from ${sql.table(peerFixedNames.table)}
    `.execute(this.db.db);
    const row = result.rows[0];
    return { rows: Number(row?.rows ?? 0), users: Number(row?.users ?? 0) };
  }

  /** The last of the service's log (WARN and worse), for an error message. */
  logTail(): string {
    try {
      return readFileSync(this.logPath, 'utf8').slice(-outputTailChars);
    } catch {
      return '';
    }
  }

  async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `the seed's coupon service exited (${this.child.exitCode ?? this.child.signalCode}) while starting:\n${this.logTail()}`,
        );
      }
      const status = await fetch(`${this.url}/actuator/health`, { signal: AbortSignal.timeout(2_000) }).then(
        (response) => response.status,
        // Not listening yet.
        () => 0,
      );
      if (status === 200) return;
      await sleep(500);
    }
    throw new Error(
      `the seed's coupon service at ${this.url} was not healthy within ${readyTimeoutMs} ms:\n${this.logTail()}`,
    );
  }

  /** Stops the JVM, drops its database, deletes its topic and keys, removes the temporary folder. */
  async stop(): Promise<void> {
    await stopChild(this.child);
    process.removeListener('exit', this.killOnExit);
    await clearFixedNames(this.redis, this.infrastructure.brokers).catch(() => undefined);
    this.redis.disconnect();
    await this.db.close().catch(() => undefined);
    await dropMysqlDatabase(this.infrastructure.mysqlUrl, this.database).catch(() => undefined);
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

async function clearFixedNames(redis: Redis, brokers: string[]): Promise<void> {
  await redis.del(peerFixedNames.usersKey, peerFixedNames.stockKey);
  // The consumer group's offsets go with the topic; the empty group expires on the broker's own schedule.
  await deleteTopics(brokers, [peerFixedNames.topic]);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(stopTimeoutMs)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * Writes the pom into `workDir`, links the seed's src/main beside it and
 * runs `mvn -q -B -DskipTests package`; resolves with the jar's path.
 */
async function buildPeer(serviceDir: string, workDir: string): Promise<string> {
  writeFileSync(join(workDir, 'pom.xml'), peerPom());
  mkdirSync(join(workDir, 'src'));
  symlinkSync(join(serviceDir, 'src', 'main'), join(workDir, 'src', 'main'), 'dir');
  progress(
    `peer-coupon: building the seed's coupon service with Maven (Spring Boot ${peerSpringBootVersion}; ` +
      `the first build downloads its dependencies into ${join(homedir(), '.m2')}, later ones reuse them)`,
  );
  const child = spawn('mvn', ['-q', '-B', '-DskipTests', 'package'], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-outputTailChars);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const outcome = await new Promise<{ code: number | null; timedOut: boolean; error?: Error }>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, timedOut: true });
    }, buildTimeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, timedOut: false, error });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut: false });
    });
  });
  if (outcome.error !== undefined) {
    throw new Error(`could not run mvn (is Maven installed and on PATH?): ${outcome.error.message}`);
  }
  if (outcome.timedOut) {
    throw new Error(
      `mvn package did not finish within ${buildTimeoutMs / 60_000} min (is Maven Central reachable?):\n${output}`,
    );
  }
  if (outcome.code !== 0) throw new Error(`mvn package failed (exit ${outcome.code}):\n${output}`);
  return join(workDir, 'target', peerJarName);
}

/**
 * Builds the seed's coupon service from `peerSrc`, starts it against the
 * shared servers with a database of this run's, and waits until it is
 * healthy. On any failure it cleans up what it made and throws.
 */
export async function startPeerCoupon(options: {
  peerSrc: string;
  mysqlUrl: string;
  redisUrl: string;
  brokers: string[];
  runKey: string;
}): Promise<PeerCoupon> {
  const serviceDir = resolvePeerServiceDir(options.peerSrc);
  const redisAddress = peerRedisOf(options.redisUrl);
  const database = `nuri_peer_coupon_bench_${options.runKey}`;
  const workDir = mkdtempSync(join(tmpdir(), 'nuri-peer-coupon-'));
  const cleanUps: Array<() => Promise<void> | void> = [
    () => rmSync(workDir, { recursive: true, force: true }),
  ];
  const cleanUp = async () => {
    for (const step of cleanUps.reverse()) await Promise.resolve(step()).catch(() => undefined);
  };
  try {
    const jar = await buildPeer(serviceDir, workDir);
    const redis = createRedis({
      url: `redis://${redisAddress.host}:${redisAddress.port}`,
      name: 'bench-peer',
    });
    cleanUps.push(() => redis.disconnect());
    // What an earlier run that was killed may have left: its keys would be counted as this run's.
    await clearFixedNames(redis, options.brokers);
    await ensureMysqlDatabase(options.mysqlUrl, database);
    cleanUps.push(() => dropMysqlDatabase(options.mysqlUrl, database));
    const databaseUrl = new URL(options.mysqlUrl);
    databaseUrl.pathname = `/${database}`;
    const db = createMysqlDatabase<unknown>({
      url: databaseUrl.toString(),
      poolSizeMax: 2,
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 0,
    });
    cleanUps.push(() => db.close());
    const port = (await freePorts(1))[0]!;
    const logPath = join(workDir, 'peer-coupon.log');
    const log = openSync(logPath, 'a');
    const child = spawn(
      'java',
      [
        ...peerJvmOptions,
        '-jar',
        jar,
        ...peerArguments({
          port,
          redis: redisAddress,
          jdbc: peerJdbcOf(options.mysqlUrl, database),
          brokers: options.brokers,
        }),
      ],
      { cwd: workDir, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const peer = new PeerCoupon({
      url: `http://127.0.0.1:${port}`,
      serviceDir,
      child,
      workDir,
      logPath,
      database,
      redis,
      db,
      infrastructure: { mysqlUrl: options.mysqlUrl, brokers: options.brokers },
    });
    try {
      progress(`peer-coupon: starting the seed's coupon service on ${peer.url} (log: ${logPath})`);
      await peer.waitUntilReady();
      return peer;
    } catch (error) {
      await peer.stop();
      throw error;
    }
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
