// The fault schedule: which fault, on what, when and for how long, drawn from
// the seed alone. Pure, so a seed always gives the same schedule (unit-tested
// in chaos/test/schedule.test.ts), and printed before the run starts.
//
// Faults run one after another with a gap between them, never overlapping:
// each error the client sees is then attributable to one fault, and each
// fault's effect on availability is measured alone. Every kind asked for is
// placed at least once when the time allows (each service killed at least
// once in a full run); what time remains is filled with more kills, pauses
// and the other faults that touch only this run's own processes.
import type { Random } from './random.ts';

export const faultKinds = [
  'kill',
  'pause',
  'broker',
  'redis',
  'pg',
  'mariadb',
  'partition',
  'latency',
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** What each kind does, for `--help` and the report. */
export const faultDescriptions: Readonly<Record<FaultKind, string>> = {
  kill: 'SIGKILL of one instance (every service at least once in a full run); some right after a burst of deposits, inside a batch',
  pause: 'SIGSTOP of one instance, SIGCONT 5–20 s later (a hung process, a long GC pause)',
  broker: "SIGKILL of this run's Kafka broker, started again 5–20 s later",
  redis: "this run's Redis restarted without persistence (state lost) and, once more, with it",
  pg: 'the shared PostgreSQL restarted in immediate mode (pg_ctlcluster … restart -m immediate)',
  mariadb: 'the shared MariaDB stopped and started again',
  partition: "the core zone's network namespace cut off (every packet on its veth dropped) for 10–30 s",
  latency:
    'the link to the core zone degraded for 10–30 s: tc netem delay and loss where the kernel has it, else packet loss and a bandwidth bottleneck',
};

/** Kinds that touch servers other systems on this machine share: placed once at most, never as filler. */
export const sharedKinds: ReadonlySet<FaultKind> = new Set(['pg', 'mariadb']);
/** Kinds that cut the channel zone off the core (the availability invariant is measured during them). */
export const coreZoneKinds: ReadonlySet<FaultKind> = new Set(['partition', 'latency']);

export interface InstanceRef {
  name: string;
  service: string;
}

export interface PlannedFault {
  /** 1-based, in start order. */
  id: number;
  kind: FaultKind;
  /** redis: `lost` or `persisted`; kill: `burst` when a burst of deposits goes just before. */
  variant?: 'lost' | 'persisted' | 'burst';
  /** The instance a kill or pause hits. */
  target?: InstanceRef;
  /** Seconds after the load starts. */
  atS: number;
  /** How long the fault is held before it is healed (0: it heals by itself, e.g. a killed instance restarts). */
  holdS: number;
}

export interface ScheduleOptions {
  durationS: number;
  kinds: readonly FaultKind[];
  instances: readonly InstanceRef[];
  /** Load before the first fault. */
  warmUpS?: number;
  /** Load after the last fault has healed. */
  coolDownS?: number;
}

/** Hold ranges in seconds, [min, max]. */
const holdRangeS: Readonly<Record<FaultKind, readonly [number, number]>> = {
  kill: [0, 0],
  pause: [5, 20],
  broker: [5, 20],
  redis: [2, 5],
  pg: [0, 0],
  mariadb: [0, 0],
  partition: [10, 30],
  latency: [10, 30],
};
/** Time a fault takes beyond its hold (an instance's restart, a server's recovery), for placing the next. */
const settleS: Readonly<Record<FaultKind, number>> = {
  kill: 10,
  pause: 4,
  broker: 12,
  redis: 4,
  pg: 12,
  mariadb: 15,
  partition: 5,
  latency: 3,
};
const gapRangeS = [4, 9] as const;
const fillerWeights: ReadonlyArray<readonly [FaultKind, number]> = [
  ['kill', 4],
  ['pause', 2],
  ['broker', 1],
  ['redis', 1],
  ['partition', 1],
  ['latency', 1],
];

export function planFaults(random: Random, options: ScheduleOptions): PlannedFault[] {
  const warmUpS = options.warmUpS ?? 10;
  const coolDownS = options.coolDownS ?? 10;
  const endS = options.durationS - coolDownS;
  const kinds = new Set(options.kinds);
  const services = [...new Set(options.instances.map((instance) => instance.service))];
  const draft = (kind: FaultKind, variant?: PlannedFault['variant'], service?: string): Draft => {
    const [min, max] = holdRangeS[kind];
    const target =
      kind === 'kill' || kind === 'pause' ? pickInstance(random, options.instances, service) : undefined;
    const burst =
      kind === 'kill' && target !== undefined && burstTargets.has(target.service) && random.chance(0.5);
    return {
      kind,
      ...(variant !== undefined ? { variant } : burst ? { variant: 'burst' as const } : {}),
      ...(target === undefined ? {} : { target }),
      holdS: random.int(min, max),
    };
  };

  // What must appear: one of each kind (Redis twice: state lost, then kept), a kill per service.
  const once = random.shuffle(
    [...kinds]
      .filter((kind) => kind !== 'kill' && kind !== 'redis')
      .map((kind) => draft(kind))
      .concat(kinds.has('redis') ? [draft('redis', 'lost'), draft('redis', 'persisted')] : []),
  );
  const kills = kinds.has('kill')
    ? random.shuffle(services).map((service) => draft('kill', undefined, service))
    : [];
  // A kill after each of the others, so that a short run still has a few of each.
  const wanted: Draft[] = [];
  for (let index = 0; index < Math.max(once.length, kills.length); index += 1) {
    if (once[index] !== undefined) wanted.push(once[index]!);
    if (kills[index] !== undefined) wanted.push(kills[index]!);
  }

  const planned: PlannedFault[] = [];
  let atS = warmUpS;
  const place = (fault: Draft): boolean => {
    const lengthS = fault.holdS + settleS[fault.kind];
    if (atS + lengthS > endS) return false;
    planned.push({ id: planned.length + 1, ...fault, atS });
    atS += lengthS + random.int(gapRangeS[0], gapRangeS[1]);
    return true;
  };
  for (const fault of wanted) place(fault);
  const fillers = fillerWeights.filter(([kind]) => kinds.has(kind) && !sharedKinds.has(kind));
  if (fillers.length === 0) return planned;
  // Fill the rest; stop after a few draws that no longer fit.
  for (let misses = 0; misses < 5; ) {
    const kind = random.weighted(fillers);
    const variant = kind === 'redis' ? random.pick(['lost', 'persisted'] as const) : undefined;
    if (!place(draft(kind, variant))) misses += 1;
  }
  return planned;
}

type Draft = Omit<PlannedFault, 'id' | 'atS'>;

/** Services whose kill may land inside a batch: deposits are batched in channel-user's writes and core-payment's consumer. */
const burstTargets = new Set(['channel-user', 'core-payment']);

function pickInstance(random: Random, instances: readonly InstanceRef[], service?: string): InstanceRef {
  const candidates =
    service === undefined ? instances : instances.filter((instance) => instance.service === service);
  return random.pick(candidates);
}

/** Parses `--faults kill,pause,…` (or `all`). */
export function parseFaultKinds(text: string): FaultKind[] {
  if (text.trim() === 'all') return [...faultKinds];
  const kinds = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const unknown = kinds.filter((kind) => !(faultKinds as readonly string[]).includes(kind));
  if (unknown.length > 0) {
    throw new Error(`unknown fault ${unknown.join(', ')}; known: ${faultKinds.join(', ')} (or all)`);
  }
  return [...new Set(kinds)] as FaultKind[];
}

/** One line per fault, for the console before the run. */
export function describeFault(fault: PlannedFault): string {
  const what = fault.target === undefined ? '' : ` ${fault.target.name}`;
  const variant = fault.variant === undefined ? '' : ` (${fault.variant})`;
  const hold = fault.holdS > 0 ? ` for ${fault.holdS} s` : '';
  return `#${fault.id} at ${fault.atS} s: ${fault.kind}${what}${variant}${hold}`;
}
