// Carries the schedule out: each fault at its time, held, healed, and its
// start and end logged with timestamps. A fault that cannot be injected (a
// server that will not restart) is recorded with its error and the run goes
// on; the report names it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestSystem } from '../e2e/harness.ts';
import type { ChaosBroker, ChaosRedis } from './infra.ts';
import { restartMariadb, restartPostgresImmediate } from './infra.ts';
import type { FaultKind, PlannedFault } from './schedule.ts';
import type { CoreZone } from './zone.ts';

const backTimeoutMs = 60_000;

export interface FaultEvent {
  id: number;
  kind: FaultKind;
  variant?: string;
  target?: string;
  /** The service a kill or pause hit. */
  service?: string;
  plannedAtS: number;
  holdS: number;
  /** When the fault was injected (ms since the epoch). */
  startedAt: number;
  /** When it was healed: SIGCONT, the broker or server started again, the link restored; a kill's restart. */
  healedAt?: number;
  /** When what it broke was back: the instance ready, the server answering. */
  backAt?: number;
  detail: string;
  error?: string;
}

export interface FaultContext {
  system: TestSystem;
  zone: CoreZone | undefined;
  broker: ChaosBroker;
  redis: ChaosRedis;
  pgUrl: string;
  mysqlUrl: string;
  /** Starts a burst of deposits (a kill right after lands inside their batch). */
  burst(count: number): void;
  log(message: string): void;
}

/** Runs every fault at its time after `loadStartedAt`; stops early when `stopped()` says so. */
export async function runSchedule(
  plan: readonly PlannedFault[],
  context: FaultContext,
  loadStartedAt: number,
  stopped: () => boolean,
): Promise<FaultEvent[]> {
  const events: FaultEvent[] = [];
  for (const fault of plan) {
    const waitMs = loadStartedAt + fault.atS * 1_000 - Date.now();
    if (waitMs > 0) await sleep(waitMs);
    if (stopped()) break;
    const event: FaultEvent = {
      id: fault.id,
      kind: fault.kind,
      ...(fault.variant === undefined ? {} : { variant: fault.variant }),
      ...(fault.target === undefined ? {} : { target: fault.target.name, service: fault.target.service }),
      plannedAtS: fault.atS,
      holdS: fault.holdS,
      startedAt: Date.now(),
      detail: '',
    };
    events.push(event);
    const name = `fault #${fault.id} ${fault.kind}${fault.target ? ` ${fault.target.name}` : ''}${fault.variant ? ` (${fault.variant})` : ''}`;
    context.log(`${name}: start at ${new Date(event.startedAt).toISOString()}`);
    try {
      await inject(fault, event, context);
    } catch (error) {
      event.error = (error as Error).message;
      context.log(`${name}: FAILED to inject or heal: ${event.error}`);
    }
    event.healedAt ??= Date.now();
    context.log(
      `${name}: healed at ${new Date(event.healedAt).toISOString()}` +
        `${event.backAt === undefined ? '' : `, back at ${new Date(event.backAt).toISOString()}`}; ${event.detail}`,
    );
  }
  return events;
}

async function inject(fault: PlannedFault, event: FaultEvent, context: FaultContext): Promise<void> {
  const { system } = context;
  const holdMs = fault.holdS * 1_000;
  switch (fault.kind) {
    case 'kill': {
      const name = fault.target!.name;
      const before = system.supervisor.status(name);
      if (fault.variant === 'burst') {
        context.burst(40);
        await sleep(60);
      }
      event.startedAt = Date.now();
      system.supervisor.signal(name, 'SIGKILL');
      event.healedAt = Date.now();
      event.backAt = await untilBack(context, name, before.restarts + 1);
      event.detail = `pid ${before.pid} killed; ready again after ${event.backAt - event.startedAt} ms`;
      return;
    }
    case 'pause': {
      const name = fault.target!.name;
      const before = system.supervisor.status(name);
      system.supervisor.signal(name, 'SIGSTOP');
      try {
        await sleep(holdMs);
      } finally {
        system.supervisor.signal(name, 'SIGCONT');
        event.healedAt = Date.now();
      }
      event.backAt = await untilBack(context, name, before.restarts);
      event.detail = `pid ${before.pid} stopped ${fault.holdS} s; ready ${event.backAt - event.healedAt} ms after SIGCONT`;
      return;
    }
    case 'broker': {
      context.broker.kill();
      try {
        await sleep(holdMs);
      } finally {
        event.healedAt = Date.now();
        await context.broker.start();
      }
      event.backAt = Date.now();
      event.detail = `broker SIGKILLed, started after ${fault.holdS} s, answering ${event.backAt - event.healedAt} ms later`;
      return;
    }
    case 'redis': {
      const variant = fault.variant === 'persisted' ? 'persisted' : 'lost';
      await context.redis.stopFor(variant);
      try {
        await sleep(holdMs);
      } finally {
        event.healedAt = Date.now();
        await context.redis.start();
      }
      event.backAt = Date.now();
      event.detail =
        variant === 'persisted'
          ? `SHUTDOWN SAVE, down ${fault.holdS} s, restarted from its dump (state kept)`
          : `SIGKILL and the dump deleted, down ${fault.holdS} s, restarted empty (state lost)`;
      return;
    }
    case 'pg': {
      const cluster = await restartPostgresImmediate(context.pgUrl);
      event.healedAt = Date.now();
      event.backAt = event.healedAt;
      event.detail = `${cluster} restarted in immediate mode; answering after ${event.backAt - event.startedAt} ms`;
      return;
    }
    case 'mariadb': {
      await restartMariadb(context.mysqlUrl);
      event.healedAt = Date.now();
      event.backAt = event.healedAt;
      event.detail = `stopped and started; answering after ${event.backAt - event.startedAt} ms`;
      return;
    }
    case 'partition': {
      const zone = requireZone(context);
      await zone.cut();
      try {
        await sleep(holdMs);
      } finally {
        await zone.heal();
        event.healedAt = Date.now();
      }
      event.backAt = await untilZoneReady(context);
      event.detail = `every packet on the core zone's veth dropped for ${fault.holdS} s; core instances ready ${event.backAt - event.healedAt} ms after healing`;
      return;
    }
    case 'latency': {
      const zone = requireZone(context);
      const applied = await zone.degrade();
      try {
        await sleep(holdMs);
      } finally {
        await zone.restore();
        event.healedAt = Date.now();
      }
      event.backAt = await untilZoneReady(context);
      event.detail = `${applied}, for ${fault.holdS} s`;
      return;
    }
  }
}

function requireZone(context: FaultContext): CoreZone {
  if (context.zone === undefined) throw new Error('the core zone has no network namespace in this run');
  return context.zone;
}

/** Waits until the instance has restarted `restarts` times and is ready; the time it was. */
async function untilBack(context: FaultContext, name: string, restarts: number): Promise<number> {
  const deadline = Date.now() + backTimeoutMs;
  while (Date.now() < deadline) {
    const status = context.system.supervisor.status(name);
    if (status.restarts >= restarts && status.state === 'ready') return Date.now();
    await sleep(100);
  }
  throw new Error(`${name} was not ready again within ${backTimeoutMs} ms`);
}

/** Waits until every core-zone instance is ready again (their probes cross the link). */
async function untilZoneReady(context: FaultContext): Promise<number> {
  const zone = requireZone(context);
  const deadline = Date.now() + backTimeoutMs;
  while (Date.now() < deadline) {
    const core = context.system.supervisor.list().filter((instance) => zone.services.has(instance.service));
    if (core.every((instance) => instance.state === 'ready')) return Date.now();
    await sleep(100);
  }
  throw new Error(`the core zone's instances were not all ready within ${backTimeoutMs} ms of healing`);
}
