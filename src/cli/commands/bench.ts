import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { scenarioNames } from '../../../bench/suite/options.ts';
import type { CliConfig } from '../config.ts';
import { CliError } from '../log.ts';
import { rootDir } from '../paths.ts';
import { environmentWithSecrets } from '../secrets.ts';

// `nuri bench` runs the suite (bench/suite/main.ts): every flow through the
// gateway of a whole system, the machine's ceilings, report.json/report.html.
// Without arguments it runs every scenario; scenario names and options go to
// the suite as they are. The older per-area scripts stay reachable by name
// (`area:<name>` always; the bare name where no suite scenario has it).
const suiteEntry = join(rootDir, 'bench', 'suite', 'main.ts');
const areaScripts: Readonly<Record<string, string>> = {
  'outbox-relay': join(rootDir, 'bench', 'outbox-relay.ts'),
  'core-payment': join(rootDir, 'bench', 'core-payment.ts'),
  channel: join(rootDir, 'bench', 'channel.ts'),
  'payment-saga': join(rootDir, 'bench', 'payment-saga.ts'),
  coupon: join(rootDir, 'bench', 'coupon.ts'),
};
/** The suite's own scenarios win a shared name (payment-saga): the area script is then `area:payment-saga`. */
const suiteScenarioNames = new Set<string>(scenarioNames);

/** The area script an argument names, if it names one. */
function areaScriptOf(arg: string): string | undefined {
  if (arg.startsWith('area:')) {
    const entry = areaScripts[arg.slice('area:'.length)];
    if (entry === undefined) {
      throw new CliError(`unknown per-area script ${arg}; known: ${Object.keys(areaScripts).join(', ')}`);
    }
    return entry;
  }
  if (suiteScenarioNames.has(arg)) return undefined;
  return areaScripts[arg];
}

/** What `nuri bench <args>` runs: the suite with every argument, or per-area scripts with the rest. */
export function planBench(args: string[]): { entries: string[]; args: string[] } {
  const scripts = args.map(areaScriptOf).filter((entry) => entry !== undefined);
  if (scripts.length === 0) return { entries: [suiteEntry], args };
  const rest = args.filter((arg) => areaScriptOf(arg) === undefined);
  const suiteNames = rest.filter((arg) => suiteScenarioNames.has(arg));
  if (suiteNames.length > 0) {
    throw new CliError(
      `run the suite (${suiteNames.join(', ')}) and the per-area scripts in separate commands: their options differ`,
    );
  }
  return { entries: scripts, args: rest };
}

export function runBench(config: CliConfig, args: string[]): Promise<number> {
  const plan = planBench(args);
  // Entries run in turn, each with the same options; the first failure stops the rest.
  return plan.entries.reduce<Promise<number>>(async (previous, entry) => {
    const code = await previous;
    if (code !== 0) return code;
    return runNode(entry, plan.args, config);
  }, Promise.resolve(0));
}

function runNode(entry: string, args: string[], config: CliConfig): Promise<number> {
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: rootDir,
    stdio: 'inherit',
    env: { ...environmentWithSecrets(), NURI_KAFKA_BROKERS: config.NURI_KAFKA_BROKERS },
  });
  return new Promise((resolveCode) => child.on('exit', (code) => resolveCode(code ?? 1)));
}
