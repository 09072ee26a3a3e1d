// The core zone (계정계) on a network of its own, so that a partition is a
// real one: core-user and core-payment run inside a Linux network namespace,
// joined to the host (where the channel zone, the gateway and Kafka run) by
// a veth pair that this module creates, cuts, heals, degrades and deletes.
//
// Why a namespace and not packet filtering on the core's ports in the host's
// tables: the namespace is the run's own — its rules, addresses and
// interfaces disappear with it, nothing is added to the host's firewall that
// other systems on the machine depend on, and a cut there cuts everything
// the core zone says to the rest (HTTP from the channel, the readiness
// probes, the core's Kafka connection), as a broken link between two zones
// would, rather than the ports someone remembered to list.
//
//   host namespace                         nuri-chaos-<pid>
//   gateway, channel zone, Kafka ── veth ── core-user, core-payment
//   10.231.N.1                              10.231.N.2
//
// A cut drops every packet on the namespace's end, both ways (iptables in
// the namespace): no RST, no ICMP, the worst kind of partition, where only
// timeouts tell. The core's own database stays reachable over PostgreSQL's
// Unix socket (a file, not the network), as a core zone's database sits in
// the core zone. Kafka is reached over the veth: the broker sits between the
// zones, so the partition cuts the core from it too.
import { existsSync } from 'node:fs';
import { isProcessAlive, run } from '../src/cli/process.ts';
import type { InstanceProcessSpec } from '../src/cli/supervisor.ts';
import type { InstanceSpec } from '../src/cli/topology.ts';

const commandTimeoutMs = 10_000;
const namespacePrefix = 'nuri-chaos-';

export interface CoreZone {
  namespace: string;
  /** The host's end of the link: where the core zone reaches Kafka. */
  hostAddress: string;
  /** Where the core zone's instances listen. */
  zoneAddress: string;
  /** Whether this kernel has tc netem (the latency fault falls back without it). */
  netem: boolean;
  /** The services that run inside. */
  services: ReadonlySet<string>;
  /** Starts a core instance inside the namespace, with the addresses it reaches the infrastructure at from there. */
  placeInstance(instance: InstanceSpec, spec: InstanceProcessSpec): InstanceProcessSpec;
  /** Drops every packet on the link, both ways. */
  cut(): Promise<void>;
  heal(): Promise<void>;
  /** Delay and loss on the link; returns what was applied, in words. */
  degrade(): Promise<string>;
  restore(): Promise<void>;
  /** Deletes the namespace and the veth pair (stop the instances first). */
  remove(): Promise<void>;
}

export interface CoreZoneOptions {
  /** The services that go inside. */
  services: readonly string[];
  /** The PostgreSQL server URL the system uses (user, password); the zone reaches it over its Unix socket. */
  pgUrl: string;
  /** Set once the broker is up: the address the core reaches Kafka at (hostAddress:port). */
  kafkaBrokers: () => string;
}

/** Why the zone cannot be made here, or undefined when it can. */
export async function zoneUnavailableReason(pgUrl: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'a network namespace needs root';
  const ip = await run('ip', ['-V'], { timeoutMs: commandTimeoutMs }).catch(() => undefined);
  if (ip === undefined || ip.code !== 0) return 'iproute2 (`ip`) is not installed';
  const iptables = await run('iptables', ['-V'], { timeoutMs: commandTimeoutMs }).catch(() => undefined);
  if (iptables === undefined || iptables.code !== 0) return 'iptables is not installed';
  if (pgSocketDirectory(pgUrl) === undefined) {
    return "PostgreSQL's Unix socket was not found (the core zone reaches its database through it)";
  }
  return undefined;
}

/** Deletes namespaces left by chaos runs whose process is gone (a run that was killed). */
export async function removeStaleZones(): Promise<string[]> {
  const listing = await run('ip', ['netns', 'list'], { timeoutMs: commandTimeoutMs });
  const removed: string[] = [];
  for (const line of listing.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!name.startsWith(namespacePrefix)) continue;
    const pid = Number(name.slice(namespacePrefix.length));
    if (Number.isInteger(pid) && pid > 0 && isProcessAlive(pid)) continue;
    await run('ip', ['netns', 'del', name], { timeoutMs: commandTimeoutMs });
    removed.push(name);
  }
  return removed;
}

export async function createCoreZone(options: CoreZoneOptions): Promise<CoreZone> {
  const namespace = `${namespacePrefix}${process.pid}`;
  const suffix = String(process.pid % 100_000);
  const hostInterface = `nch${suffix}`;
  const zoneInterface = `ncz${suffix}`;
  const subnet = await freeSubnet();
  const hostAddress = `10.231.${subnet}.1`;
  const zoneAddress = `10.231.${subnet}.2`;
  const socketDirectory = pgSocketDirectory(options.pgUrl)!;
  await ip(['netns', 'add', namespace]);
  try {
    await ip([
      'link',
      'add',
      hostInterface,
      'type',
      'veth',
      'peer',
      'name',
      zoneInterface,
      'netns',
      namespace,
    ]);
    await ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    await ip(['link', 'set', hostInterface, 'up']);
    await ip(['-n', namespace, 'addr', 'add', `${zoneAddress}/30`, 'dev', zoneInterface]);
    await ip(['-n', namespace, 'link', 'set', zoneInterface, 'up']);
    await ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    await run('ip', ['netns', 'del', namespace], { timeoutMs: commandTimeoutMs });
    throw error;
  }
  const netem = await hasNetem(hostInterface);
  const inZone = (command: string, args: string[]) =>
    sh('ip', ['netns', 'exec', namespace, command, ...args]);
  const cutRules = [
    ['INPUT', '-i', zoneInterface, '-j', 'DROP'],
    ['OUTPUT', '-o', zoneInterface, '-j', 'DROP'],
  ];
  const lossRules = [
    [
      'INPUT',
      '-i',
      zoneInterface,
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      '0.03',
      '-j',
      'DROP',
    ],
    [
      'OUTPUT',
      '-o',
      zoneInterface,
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      '0.03',
      '-j',
      'DROP',
    ],
  ];
  const services = new Set(options.services);
  return {
    namespace,
    hostAddress,
    zoneAddress,
    netem,
    services,
    placeInstance(instance, spec) {
      if (!services.has(instance.service.name)) return spec;
      return {
        ...spec,
        command: 'ip',
        args: ['netns', 'exec', namespace, spec.command, ...spec.args],
        env: {
          ...spec.env,
          NURI_PG_URL: socketUrl(options.pgUrl, socketDirectory),
          NURI_KAFKA_BROKERS: options.kafkaBrokers(),
        },
      };
    },
    async cut() {
      for (const rule of cutRules) await inZone('iptables', ['-I', ...rule]);
    },
    async heal() {
      for (const rule of cutRules) await inZone('iptables', ['-D', ...rule]).catch(() => undefined);
    },
    async degrade() {
      if (netem) {
        const args = ['root', 'netem', 'delay', '80ms', '40ms', 'loss', '2%'];
        await sh('tc', ['qdisc', 'add', 'dev', hostInterface, ...args]);
        await inZone('tc', ['qdisc', 'add', 'dev', zoneInterface, ...args]);
        return 'tc netem on both ends: delay 80 ms ± 40 ms, 2 % loss each way';
      }
      // No netem in this kernel (CONFIG_NET_SCH_NETEM): loss by iptables' statistic match, and a
      // token bucket on both ends whose queue turns bursts into delay (and drops past 200 ms).
      for (const rule of lossRules) await inZone('iptables', ['-I', ...rule]);
      const bucket = ['root', 'tbf', 'rate', '2mbit', 'burst', '16kb', 'latency', '200ms'];
      await sh('tc', ['qdisc', 'add', 'dev', hostInterface, ...bucket]);
      await inZone('tc', ['qdisc', 'add', 'dev', zoneInterface, ...bucket]);
      return 'no tc netem in this kernel: 3 % packet loss each way (iptables statistic) and a 2 Mbit/s bottleneck (tc tbf, queue ≤ 200 ms) on both ends';
    },
    async restore() {
      await sh('tc', ['qdisc', 'del', 'dev', hostInterface, 'root']).catch(() => undefined);
      await inZone('tc', ['qdisc', 'del', 'dev', zoneInterface, 'root']).catch(() => undefined);
      if (!netem) {
        for (const rule of lossRules) await inZone('iptables', ['-D', ...rule]).catch(() => undefined);
      }
    },
    async remove() {
      await run('ip', ['netns', 'del', namespace], { timeoutMs: commandTimeoutMs });
      // The veth pair goes with the namespace once its last process is gone; make sure.
      await run('ip', ['link', 'del', hostInterface], { timeoutMs: commandTimeoutMs }).catch(() => undefined);
    },
  };
}

async function ip(args: string[]): Promise<void> {
  await sh('ip', args);
}

async function sh(command: string, args: string[]): Promise<void> {
  const result = await run(command, args, { timeoutMs: commandTimeoutMs });
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed: ${(result.stderr || result.stdout).trim()}`);
  }
}

/** A /30 in 10.231.0.0/16 that no interface of the host uses yet. */
async function freeSubnet(): Promise<number> {
  const listing = await run('ip', ['-4', '-o', 'addr'], { timeoutMs: commandTimeoutMs });
  const used = new Set([...listing.stdout.matchAll(/10\.231\.(\d+)\./g)].map((match) => Number(match[1])));
  const first = process.pid % 250;
  for (let step = 0; step < 250; step += 1) {
    const candidate = 1 + ((first + step) % 250);
    if (!used.has(candidate)) return candidate;
  }
  throw new Error('no free subnet in 10.231.0.0/16 for the core zone');
}

async function hasNetem(hostInterface: string): Promise<boolean> {
  const added = await run('tc', ['qdisc', 'add', 'dev', hostInterface, 'root', 'netem', 'delay', '1ms'], {
    timeoutMs: commandTimeoutMs,
  });
  if (added.code !== 0) return false;
  await run('tc', ['qdisc', 'del', 'dev', hostInterface, 'root'], { timeoutMs: commandTimeoutMs });
  return true;
}

/** The folder of PostgreSQL's Unix socket for the server's port, if there is one. */
function pgSocketDirectory(pgUrl: string): string | undefined {
  const port = new URL(pgUrl).port || '5432';
  return ['/var/run/postgresql', '/run/postgresql', '/tmp'].find((directory) =>
    existsSync(`${directory}/.s.PGSQL.${port}`),
  );
}

/** The same server, user and password, reached over the Unix socket (`?host=` is the socket's folder). */
function socketUrl(pgUrl: string, directory: string): string {
  const url = new URL(pgUrl);
  url.hostname = 'localhost';
  url.searchParams.set('host', directory);
  return url.toString();
}
