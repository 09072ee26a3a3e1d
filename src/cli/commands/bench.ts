import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CliConfig } from '../config.ts';
import { CliError } from '../log.ts';
import { rootDir } from '../paths.ts';
import { environmentWithSecrets } from '../secrets.ts';

// One script per area, each printing medians and spreads with the machine's
// own ceilings where it has them. The unified suite (every flow through the
// gateway, report.json/report.html with charts) is its own open issue.
const scenarios: Readonly<Record<string, string>> = {
  'outbox-relay': join(rootDir, 'bench', 'outbox-relay.ts'),
  'core-payment': join(rootDir, 'bench', 'core-payment.ts'),
  channel: join(rootDir, 'bench', 'channel.ts'),
  'payment-saga': join(rootDir, 'bench', 'payment-saga.ts'),
  coupon: join(rootDir, 'bench', 'coupon.ts'),
};

export function runBench(config: CliConfig, args: string[]): Promise<number> {
  const names = args.filter((arg) => !arg.startsWith('--'));
  const options = args.filter((arg) => arg.startsWith('--'));
  // Without names, every scenario that exists runs (coupon's arrives with its service).
  const selected =
    names.length > 0 ? names : Object.keys(scenarios).filter((name) => existsSync(scenarios[name]!));
  const unknown = selected.filter((name) => !(name in scenarios));
  if (unknown.length > 0) {
    throw new CliError(`unknown scenario ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}`);
  }
  return selected.reduce<Promise<number>>(async (previous, name) => {
    const code = await previous;
    if (code !== 0) return code;
    return runScenario(scenarios[name]!, options, config);
  }, Promise.resolve(0));
}

function runScenario(entry: string, options: string[], config: CliConfig): Promise<number> {
  const child = spawn(process.execPath, [entry, ...options], {
    cwd: rootDir,
    stdio: 'inherit',
    env: { ...environmentWithSecrets(), NURI_KAFKA_BROKERS: config.NURI_KAFKA_BROKERS },
  });
  return new Promise((resolveCode) => child.on('exit', (code) => resolveCode(code ?? 1)));
}
