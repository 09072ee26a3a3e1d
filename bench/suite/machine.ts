// The machine a report was taken on, and where its CPU went during a load:
// a figure from a 2-core host shared with other work means little without
// the load average, the commit and the load generator's own share.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { peerJarName, peerProcessGroup } from './peer-seed.ts';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  commit: string;
  /** Uncommitted changes when the run started: the figures are of the working tree, not of `commit`. */
  dirty: boolean;
  hostname: string;
}

export function describeMachine(repoRoot: string): MachineInfo {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    commit: git(['rev-parse', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    hostname: readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(),
  };
}

export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = loadavg();
  return [round2(one ?? 0), round2(five ?? 0), round2(fifteen ?? 0)];
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

// --- where the CPU went -------------------------------------------------------

/** Clock ticks per second of /proc's utime/stime (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100;
const serviceCommand = /services\/([a-z-]+)\/src\/server\.ts/;

/** The bare-proxy ceiling's proxy process (ceilings.ts): its CPU is that ceiling's CPU per request. */
export const bareProxyGroup = 'bare proxy';

export interface CpuSnapshot {
  atMs: number;
  /** Busy ticks of the whole machine (all cores), from /proc/stat. */
  machineBusyTicks: number;
  /** Ticks per group: our services by name, the shared servers by program. */
  groups: Map<number, { group: string; ticks: number }>;
}

/**
 * The processes a load touches, by group: the services this suite started
 * (children of this process, core-* scenarios' own core-payment among them),
 * its load generator and outbox relay, the seed's coupon service it builds
 * for peer-coupon-seed (a JVM running peer-coupon.jar), the suite itself, and the shared servers
 * (PostgreSQL, MariaDB, Redis, the Kafka broker) — those are shared with
 * whatever else runs on the machine, so their share is an upper bound.
 */
export function groupOf(pid: number, parentPid: number, command: string, name: string): string | undefined {
  if (pid === process.pid) return 'suite';
  // A shared server is one whoever started it: when nothing ran, the run's own
  // `infra up` starts the broker (or a database) as a child of this process.
  const server = sharedServerOf(command, name);
  if (server !== undefined) return server;
  if (parentPid === process.pid) {
    const service = serviceCommand.exec(command)?.[1];
    if (service !== undefined) return service;
    if (command.includes('load-worker.ts')) return 'load generator';
    // The outbox relay and inbox consumer outbox-relay-* measure: the system under test there.
    if (command.includes('outbox-relay-worker.ts')) return 'outbox relay';
    // The bare-proxy ceiling's hop (its upstream, bare-server.ts, is in no group).
    if (command.includes('bare-proxy.ts')) return bareProxyGroup;
    // The peer's every thread (Tomcat, Kafka, Hikari, GC, JIT) is in this one process's ticks.
    if (name === 'java' && command.includes(`/${peerJarName} `)) return peerProcessGroup;
  }
  return undefined;
}

function sharedServerOf(command: string, name: string): string | undefined {
  if (name === 'postgres') return 'postgresql';
  if (name === 'mariadbd' || name === 'mysqld') return 'mariadb';
  if (name === 'redis-server') return 'redis';
  if (name === 'java' && command.includes(' kafka.Kafka ')) return 'kafka';
  return undefined;
}

export function cpuSnapshot(): CpuSnapshot {
  const groups = new Map<number, { group: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The name is in parentheses and may hold spaces: fields follow the last ')'.
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const parentPid = Number(fields[1]);
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const group = groupOf(pid, parentPid, command, name);
      if (group === undefined) continue;
      groups.set(pid, { group, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended while we read it.
    }
  }
  return { atMs: Date.now(), machineBusyTicks: machineBusyTicks(), groups };
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  // user nice system idle iowait irq softirq steal: everything but idle and iowait is work.
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return ticks.reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
}

export interface CpuBreakdown {
  /** How long the window was, in seconds. */
  windowS: number;
  /** Share of the whole machine (all cores) busy during the window, 0–1. */
  machineBusy: number;
  /** Share of the whole machine per group, largest first; `other` is what no group accounts for. */
  groups: Record<string, number>;
}

/**
 * `known`: shares measured by the process itself (the load generator, which
 * has exited by the second snapshot), as a share of the machine.
 */
export function cpuBreakdown(
  before: CpuSnapshot,
  after: CpuSnapshot,
  cores: number,
  known: Readonly<Record<string, number>> = {},
): CpuBreakdown {
  const capacityTicks = ((after.atMs - before.atMs) / 1_000) * ticksPerSecond * cores;
  const windowS = (after.atMs - before.atMs) / 1_000;
  if (capacityTicks <= 0) return { windowS, machineBusy: 0, groups: {} };
  const used = new Map<string, number>();
  for (const [pid, now] of after.groups) {
    // A process born during the window (a new database backend) spent all its ticks in it.
    const earlier = before.groups.get(pid)?.ticks ?? 0;
    used.set(now.group, (used.get(now.group) ?? 0) + Math.max(0, now.ticks - earlier));
  }
  for (const [group, share] of Object.entries(known)) used.set(group, share * capacityTicks);
  const machineBusy = Math.min(1, (after.machineBusyTicks - before.machineBusyTicks) / capacityTicks);
  const accounted = [...used.values()].reduce((sum, ticks) => sum + ticks, 0) / capacityTicks;
  const groups: Record<string, number> = {};
  for (const [group, ticks] of [...used.entries()].sort((a, b) => b[1] - a[1])) {
    groups[group] = round3(ticks / capacityTicks);
  }
  groups.other = round3(Math.max(0, machineBusy - accounted));
  return { windowS, machineBusy: round3(machineBusy), groups };
}

/**
 * What is not the system under test: the load generator, the suite itself
 * (seeding, polling for completion, the span sink) and the CPU no process
 * group accounts for (other tenants of a shared machine).
 */
const notTheSystem = new Set(['load generator', 'suite', 'other']);

/**
 * CPU milliseconds per operation of every process group of the system (each
 * service, PostgreSQL, MariaDB, Redis, Kafka), in total and per group; only
 * of `measured` when a scenario names the groups its work runs in (below the
 * services, where the system's idle services are not what is measured).
 */
export function cpuMsPerOperation(
  cpu: CpuBreakdown,
  cores: number,
  operations: number,
  measured?: readonly string[],
): { total: number; byGroup: Record<string, number> } {
  const msPerShare = cpu.windowS * cores * 1_000;
  const byGroup: Record<string, number> = {};
  let total = 0;
  for (const [group, share] of Object.entries(cpu.groups)) {
    if (notTheSystem.has(group)) continue;
    if (measured !== undefined && !measured.includes(group)) continue;
    const ms = operations > 0 ? (share * msPerShare) / operations : Number.POSITIVE_INFINITY;
    byGroup[group] = Math.round(ms * 10_000) / 10_000;
    total += ms;
  }
  return { total, byGroup };
}

function round3(value: number): number {
  return Math.round(value * 1_000) / 1_000;
}
