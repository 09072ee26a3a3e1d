// The infrastructure a chaos run breaks. What only this run uses it owns:
// a Kafka broker and a Redis server of its own, on free ports, in the run's
// folder, so that killing the broker or wiping Redis hurts nobody else on
// the machine. PostgreSQL and MariaDB are the machine's shared servers (each
// run has throwaway databases on them): restarting them is a fault other
// systems feel too, so the schedule places each at most once.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForBroker } from '@nuri/platform/kafka/admin';
import { freePorts } from '@nuri/platform/testing';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ensureKafkaJars } from '../src/cli/infra/kafka.ts';
import { mariadbComponent } from '../src/cli/infra/mariadb.ts';
import { rootDir } from '../src/cli/paths.ts';
import { hasCommand, run, waitUntil } from '../src/cli/process.ts';

const brokerReadyTimeoutMs = 120_000;
const brokerHeapMb = 384;
const redisReadyTimeoutMs = 15_000;
const serverReadyTimeoutMs = 60_000;
const probeTimeoutMs = 1_500;

// --- Kafka -------------------------------------------------------------------

export interface ChaosBroker {
  /** For processes in the host's namespace. */
  address: string;
  /** For the core zone (its own listener on the veth's host end), when there is one. */
  zoneAddress: string | undefined;
  logFile: string;
  start(): Promise<void>;
  /** SIGKILL: no controlled shutdown, the log is recovered on the next start. */
  kill(): void;
  stop(): Promise<void>;
}

/**
 * A KRaft cluster id: 16 random bytes, base64url. One that starts with "-"
 * (1 in 64) was read by kafka-storage as an option, not the value of -t, and
 * the fuzz run's broker failed to format (CI, 2026-12-06).
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * A single-node KRaft broker like `nuri infra up`'s (infra/kafka/server.properties),
 * on ports of its own and with a data folder of its own, plus a second listener
 * on the veth's host address when the core zone has a namespace: a broker hands
 * out the address of the listener a client came in on, so each zone is told one
 * it can reach.
 */
export async function createBroker(
  folder: string,
  zoneHostAddress: string | undefined,
): Promise<ChaosBroker> {
  const libs = await ensureKafkaJars();
  // Kafka wants a port of its own for each listener, whatever the address.
  const [clientPort, zonePort, controllerPort] = (await freePorts(3)) as [number, number, number];
  const dataDir = join(folder, 'data');
  const propertiesFile = join(folder, 'server.properties');
  const logFile = join(folder, 'broker.log');
  mkdirSync(dataDir, { recursive: true });
  const listeners = [`PLAINTEXT://127.0.0.1:${clientPort}`];
  if (zoneHostAddress !== undefined) listeners.push(`ZONE://${zoneHostAddress}:${zonePort}`);
  const template = readFileSync(join(rootDir, 'infra', 'kafka', 'server.properties'), 'utf8');
  const properties = template
    .replace('@LOG_DIRS@', dataDir)
    .replace(/^controller\.quorum\.voters=.*$/m, `controller.quorum.voters=1@127.0.0.1:${controllerPort}`)
    .replace(/^listeners=.*$/m, `listeners=${listeners.join(',')},CONTROLLER://127.0.0.1:${controllerPort}`)
    .replace(/^advertised\.listeners=.*$/m, `advertised.listeners=${listeners.join(',')}`)
    .replace(
      /^listener\.security\.protocol\.map=.*$/m,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,ZONE:PLAINTEXT,CONTROLLER:PLAINTEXT',
    );
  writeFileSync(propertiesFile, properties);
  // A fresh cluster id per run: base64url of 16 random bytes, as Kafka's own tool makes them.
  const format = await run(
    'java',
    ['-cp', `${libs}/*`, 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', propertiesFile],
    { timeoutMs: 120_000 },
  );
  if (format.code !== 0)
    throw new Error(`Kafka storage format failed: ${(format.stderr || format.stdout).slice(-1_000)}`);
  const address = `127.0.0.1:${clientPort}`;
  let child: ChildProcess | undefined;
  const spawnBroker = () => {
    const log = openSync(logFile, 'a');
    const started = spawn(
      'java',
      [
        `-Xmx${brokerHeapMb}m`,
        '-Xms64m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        '-Djava.awt.headless=true',
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
        '-cp',
        `${libs}/*`,
        'kafka.Kafka',
        propertiesFile,
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    return started;
  };
  return {
    address,
    zoneAddress: zoneHostAddress === undefined ? undefined : `${zoneHostAddress}:${zonePort}`,
    logFile,
    async start() {
      child = spawnBroker();
      killOnExit(child);
      const exited = new Promise<never>((_, reject) =>
        child!.once('exit', (code, signal) =>
          reject(new Error(`the broker exited (${signal ?? code}); see ${logFile}`)),
        ),
      );
      exited.catch(() => undefined);
      await Promise.race([waitForBroker([address], brokerReadyTimeoutMs), exited]);
    },
    kill() {
      child?.kill('SIGKILL');
    },
    async stop() {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolveExit) => child!.once('exit', resolveExit));
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
      if (!done) child.kill('SIGKILL');
    },
  };
}

/** A run that dies leaves no broker or Redis behind (process.exit runs 'exit' listeners). */
function killOnExit(child: ChildProcess): void {
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
}

// --- Redis -------------------------------------------------------------------

export interface ChaosRedis {
  url: string;
  start(): Promise<void>;
  /**
   * Restarts the server. `persisted`: SHUTDOWN SAVE, then the new server loads
   * the dump (state kept). `lost`: SIGKILL and the dump deleted (state lost,
   * as a Redis without persistence that crashed).
   */
  stopFor(variant: 'lost' | 'persisted'): Promise<void>;
  stop(): Promise<void>;
}

export async function createRedis(folder: string): Promise<ChaosRedis> {
  if (!hasCommand('redis-server')) {
    throw new Error(
      'redis-server is not installed (`apt-get install redis-server`): the run has a Redis of its own',
    );
  }
  mkdirSync(folder, { recursive: true });
  const [port] = (await freePorts(1)) as [number];
  const dumpFile = join(folder, 'dump.rdb');
  let child: ChildProcess | undefined;
  const stopped = () => new Promise((resolveExit) => child?.once('exit', resolveExit));
  return {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const log = openSync(join(folder, 'redis.log'), 'a');
      // No automatic snapshots and no AOF: persistence happens only when a fault asks for it.
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', folder],
        { stdio: ['ignore', log, log] },
      );
      closeSync(log);
      killOnExit(child);
      if (!(await waitUntil(() => redisAnswers(port), redisReadyTimeoutMs, 100))) {
        throw new Error(`Redis did not answer on port ${port} within ${redisReadyTimeoutMs} ms`);
      }
    },
    async stopFor(variant) {
      const exited = stopped();
      if (variant === 'persisted') await redisCommand(port, ['SHUTDOWN', 'SAVE']);
      else child?.kill('SIGKILL');
      await exited;
      if (variant === 'lost') rmSync(dumpFile, { force: true });
    },
    async stop() {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = stopped();
      await redisCommand(port, ['SHUTDOWN', 'NOSAVE']);
      await Promise.race([exited, sleep(5_000).then(() => child?.kill('SIGKILL'))]);
    },
  };
}

/** One RESP command; resolves when the server answers or closes the connection. */
function redisCommand(port: number, words: string[]): Promise<string> {
  return new Promise((resolveReply) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const finish = () => {
      socket.destroy();
      resolveReply(reply);
    };
    socket.setTimeout(probeTimeoutMs, finish);
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.endsWith('\r\n')) finish();
    });
    socket.on('connect', () =>
      socket.write(
        `*${words.length}\r\n${words.map((word) => `$${Buffer.byteLength(word)}\r\n${word}\r\n`).join('')}`,
      ),
    );
  });
}

async function redisAnswers(port: number): Promise<boolean> {
  return (await redisCommand(port, ['PING'])).startsWith('+PONG');
}

// --- the shared servers ------------------------------------------------------

/** `pg_ctlcluster <version> <name> restart -m immediate`: every backend killed, recovery from the WAL. */
export async function restartPostgresImmediate(pgUrl: string): Promise<string> {
  const listing = await run('pg_lsclusters', ['--no-header'], { timeoutMs: 10_000 });
  const port = new URL(pgUrl).port || '5432';
  const cluster = listing.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[2] === port);
  if (cluster === undefined) throw new Error(`no PostgreSQL cluster on port ${port} (pg_lsclusters)`);
  const [version, name] = cluster as [string, string];
  const redirect = existsSync('/usr/bin/pg_ctlcluster') ? ['--skip-systemctl-redirect'] : [];
  const result = await run('pg_ctlcluster', [...redirect, version, name, 'restart', '-m', 'immediate'], {
    timeoutMs: serverReadyTimeoutMs,
  });
  if (result.code !== 0)
    throw new Error(`pg_ctlcluster restart failed: ${(result.stderr || result.stdout).trim()}`);
  if (!(await waitUntil(() => postgresAnswers(pgUrl), serverReadyTimeoutMs, 200))) {
    throw new Error(`PostgreSQL did not answer within ${serverReadyTimeoutMs} ms of its restart`);
  }
  return `cluster ${version}/${name}`;
}

/** Stops MariaDB (as `nuri infra down` would a server it started) and starts it again. */
export async function restartMariadb(mysqlUrl: string): Promise<void> {
  const component = mariadbComponent(mysqlUrl);
  const stopped = await component.stop!();
  if (!stopped) throw new Error('MariaDB could not be stopped (start-stop-daemon)');
  await component.start();
  if (!(await waitUntil(() => mariadbAnswers(mysqlUrl), serverReadyTimeoutMs, 200))) {
    throw new Error(`MariaDB did not answer within ${serverReadyTimeoutMs} ms of its restart`);
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: probeTimeoutMs });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function mariadbAnswers(url: string): Promise<boolean> {
  let connection: mysql.Connection | undefined;
  try {
    connection = await mysql.createConnection({ uri: url, connectTimeout: probeTimeoutMs });
    await connection.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await connection?.end().catch(() => undefined);
  }
}
