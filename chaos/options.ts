// `npm run chaos -- [options]` and `npm run chaos -- fuzz [options]`.
import { parseScale, type Scale } from '../src/cli/topology.ts';
import { type FaultKind, faultDescriptions, faultKinds, parseFaultKinds } from './schedule.ts';

export interface ChaosOptions {
  seed: number;
  /** Seconds of load (faults included). */
  durationS: number;
  /** Operations started per second, open loop. */
  rate: number;
  faults: FaultKind[];
  scale: Scale;
  customers: number;
  /** Seconds, after the load, for every operation to get its answer and every deposit and payment to settle. */
  healS: number;
}

export const defaultScale: Scale = {
  gateway: 2,
  'channel-user': 2,
  point: 2,
  coupon: 2,
  'core-user': 2,
  'core-payment': 2,
};

export const chaosUsage = `usage: npm run chaos -- [--seed N] [--duration S] [--rate N] [--faults a,b,…|all]
                        [--scale name=n,…] [--customers N] [--heal S]
       npm run chaos -- fuzz [--seed N] [--runs N]   (see fuzz --help)

A Jepsen-style run: a whole system (every service as supervised instances, a
Kafka broker and a Redis of its own, the core zone in a network namespace),
customers banking through the gateway at --rate operations/s for --duration s
while a seeded schedule of faults breaks things, then every invariant checked
against what the client was told. Report in chaos/results/<time>/.

  --seed N        the schedule and the workload's choices (default: a fresh one, printed)
  --duration S    seconds of load, faults included (default 600)
  --rate N        operations started per second (default 200)
  --faults LIST   which faults (default all):
${faultKinds.map((kind) => `                    ${kind.padEnd(10)} ${faultDescriptions[kind]}`).join('\n')}
  --scale LIST    instances per service (default ${Object.entries(defaultScale)
    .map(([name, count]) => `${name}=${count}`)
    .join(',')})
  --customers N   customers signed up before the load (default 60)
  --heal S        after the load: seconds for every answer and settlement (default 120)

Exit code: 0 when every invariant held, 1 when one broke, 2 when the run could not be made.`;

export function parseChaosOptions(args: readonly string[], freshSeed: () => number): ChaosOptions {
  const values = new Map<string, string>();
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'\n${chaosUsage}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const value = inline ?? args[index + 1];
    if (inline === undefined) index += 1;
    if (value === undefined) throw new Error(`--${name} needs a value`);
    values.set(name, value);
  }
  const known = new Set(['seed', 'duration', 'rate', 'faults', 'scale', 'customers', 'heal']);
  const unknown = [...values.keys()].filter((name) => !known.has(name));
  if (unknown.length > 0) throw new Error(`unknown option --${unknown.join(', --')}\n${chaosUsage}`);
  const integer = (name: string, fallback: number, min: number, max: number) => {
    const text = values.get(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`--${name} wants an integer in ${min}–${max}, not '${text}'`);
    }
    return value;
  };
  const scaleText = values.get('scale');
  return {
    seed: integer('seed', freshSeed(), 0, 2 ** 31 - 1),
    durationS: integer('duration', 600, 30, 86_400),
    rate: integer('rate', 200, 1, 5_000),
    faults: parseFaultKinds(values.get('faults') ?? 'all'),
    scale: scaleText === undefined ? defaultScale : { ...defaultScale, ...parseScale(scaleText) },
    customers: integer('customers', 60, 4, 10_000),
    healS: integer('heal', 120, 10, 3_600),
  };
}

/** The command that repeats a run with these options. */
export function reproduceCommand(options: ChaosOptions): string {
  const scale = Object.entries(options.scale)
    .map(([name, count]) => `${name}=${count}`)
    .join(',');
  return (
    `npm run chaos -- --seed ${options.seed} --duration ${options.durationS} --rate ${options.rate} ` +
    `--faults ${options.faults.join(',')} --scale ${scale} --customers ${options.customers}`
  );
}
