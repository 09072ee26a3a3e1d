import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { waitForBroker } from '@nuri/platform/kafka/admin';
import { CliError, say } from '../log.ts';
import { kafkaDir, rootDir } from '../paths.ts';
import { hasCommand, isProcessAlive, run, waitUntil } from '../process.ts';
import { type Component, composeHint } from './component.ts';

export const kafkaVersion = '4.1.1';
/** Fixed so that storage is formatted once and a restart finds its own data (base64 of 16 bytes). */
const clusterId = 'TnVyaUJhbmtMb2NhbEtSYQ';
const managedBrokers = new Set(['127.0.0.1:9092', 'localhost:9092']);
const probeTimeoutMs = 2_000;
const fetchTimeoutMs = 600_000;
const readyTimeoutMs = 90_000;
const stopTimeoutMs = 45_000;
const heapMaxMb = 512;

const libsDir = join(kafkaDir, 'libs');
const dataDir = join(kafkaDir, 'data');
const propertiesFile = join(kafkaDir, 'server.properties');
const pidFile = join(kafkaDir, 'broker.pid');
export const brokerLogFile = join(kafkaDir, 'broker.log');

export function kafkaComponent(brokers: string[]): Component {
  const managed = brokers.length === 1 && managedBrokers.has(brokers[0]!);
  return {
    name: 'kafka',
    address: brokers.join(','),
    async probe() {
      try {
        await waitForBroker(brokers, probeTimeoutMs);
      } catch {
        return null;
      }
      return managedPid() ? `Apache Kafka ${kafkaVersion} (KRaft)` : 'Apache Kafka (not started by nuri)';
    },
    async start() {
      if (!managed) {
        throw new CliError(
          `Kafka does not answer at ${brokers.join(',')}; it is not the local default, so nuri will not start it.`,
        );
      }
      await startManagedBroker(brokers);
    },
    stop: stopManagedBroker,
    describe() {
      const pid = managedPid();
      return pid ? `pid ${pid}, log ${brokerLogFile}` : '';
    },
  };
}

async function startManagedBroker(brokers: string[]): Promise<void> {
  requireJava();
  await fetchJars();
  writeProperties();
  await formatStorage();
  const pid = spawnBroker();
  say(`starting Kafka ${kafkaVersion} (pid ${pid}), log ${brokerLogFile}`);
  const ready = await waitUntil(
    async () => {
      if (!isProcessAlive(pid)) throw new Error('broker exited');
      await waitForBroker(brokers, probeTimeoutMs);
      return true;
    },
    readyTimeoutMs,
    300,
  );
  if (!ready) {
    throw new CliError(
      `Kafka did not become ready within ${readyTimeoutMs} ms. Last log lines:\n${logTail()}`,
    );
  }
}

/**
 * Java, Maven and the broker's jars (fetched once into .cache/kafka/libs):
 * what any broker nuri runs needs. Returns the jars' folder; the chaos run
 * starts a broker of its own from it (chaos/infra.ts).
 */
export async function ensureKafkaJars(): Promise<string> {
  requireJava();
  await fetchJars();
  return libsDir;
}

function requireJava(): void {
  const missing = ['java', 'mvn'].filter((command) => !hasCommand(command));
  if (missing.length > 0) {
    throw new CliError(
      `Kafka runs from jars that Maven fetches, which needs ${missing.join(' and ')}: ` +
        `install \`apt-get install default-jre-headless maven\` (Debian/Ubuntu), ${composeHint}.`,
    );
  }
}

async function fetchJars(): Promise<void> {
  if (existsSync(join(libsDir, `kafka_2.13-${kafkaVersion}.jar`))) return;
  // A version change leaves old jars behind; a mixed classpath would not start.
  rmSync(libsDir, { recursive: true, force: true });
  mkdirSync(libsDir, { recursive: true });
  say(`fetching Apache Kafka ${kafkaVersion} jars with Maven (once) into ${libsDir}`);
  const result = await run(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      join(rootDir, 'infra', 'kafka', 'pom.xml'),
      'dependency:copy-dependencies',
      `-DoutputDirectory=${libsDir}`,
    ],
    { timeoutMs: fetchTimeoutMs },
  );
  if (result.code !== 0) {
    rmSync(libsDir, { recursive: true, force: true });
    throw new CliError(
      `Maven could not fetch the Kafka jars:\n${(result.stdout + result.stderr).trim().slice(-2_000)}`,
    );
  }
}

function writeProperties(): void {
  const template = readFileSync(join(rootDir, 'infra', 'kafka', 'server.properties'), 'utf8');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(propertiesFile, template.replace('@LOG_DIRS@', dataDir));
}

async function formatStorage(): Promise<void> {
  if (existsSync(join(dataDir, 'meta.properties'))) return;
  const result = await run(
    'java',
    [
      '-cp',
      `${libsDir}/*`,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      propertiesFile,
      '--ignore-formatted',
    ],
    { timeoutMs: 60_000 },
  );
  if (result.code !== 0) {
    throw new CliError(
      `Kafka storage format failed:\n${(result.stdout + result.stderr).trim().slice(-2_000)}`,
    );
  }
}

function spawnBroker(): number {
  const log = openSync(brokerLogFile, 'w');
  const child = spawn(
    'java',
    [
      `-Xmx${heapMaxMb}m`,
      '-Xms128m',
      // Serial, not G1: on two cores G1's concurrent threads cost the broker
      // 8–14 % more CPU per record for the same load (docs/performance-log.md,
      // 2026-12-07); the JVM picks Serial itself on smaller machines.
      '-XX:+UseSerialGC',
      '-Djava.awt.headless=true',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      '-cp',
      `${libsDir}/*`,
      'kafka.Kafka',
      propertiesFile,
    ],
    // Detached: the broker outlives `nuri infra up`, which only starts it.
    { detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new CliError('could not spawn java for the Kafka broker');
  writeFileSync(pidFile, `${child.pid}\n`);
  return child.pid;
}

/** The pid of the broker this project started, if it still runs. */
function managedPid(): number | null {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid) || !isKafkaProcess(pid)) {
    rmSync(pidFile, { force: true });
    return null;
  }
  return pid;
}

/** Guards against a recycled pid: only a java process running kafka.Kafka is ours. */
function isKafkaProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka');
  } catch {
    return true; // no /proc (not Linux): trust the pid file
  }
}

async function stopManagedBroker(): Promise<boolean> {
  const pid = managedPid();
  if (!pid) return false;
  say(`stopping Kafka (pid ${pid}, controlled shutdown)`);
  process.kill(pid, 'SIGTERM');
  const stopped = await waitUntil(async () => !isProcessAlive(pid), stopTimeoutMs, 250);
  if (!stopped) {
    say(`Kafka did not stop within ${stopTimeoutMs} ms; killing it`);
    process.kill(pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
  return true;
}

function logTail(lines = 30): string {
  if (!existsSync(brokerLogFile)) return '(no log)';
  return readFileSync(brokerLogFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export function kafkaJarsPresent(): boolean {
  return existsSync(libsDir) && readdirSync(libsDir).some((name) => name.startsWith('kafka_2.13-'));
}
