// `npm run chaos` (nuri chaos): the fault run (run.ts), or with `fuzz` the
// hostile-input run (fuzz/run.ts). Runs on the pinned Node as its own
// process, started by src/cli/commands/chaos.ts.
import { fileURLToPath } from 'node:url';
import { chaosUsage, parseChaosOptions } from './options.ts';
import { progress } from './progress.ts';
import { freshSeed } from './random.ts';
import { ChaosSetupError, runChaos } from './run.ts';

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'fuzz') {
    const { runFuzzCommand } = await import('./fuzz/run.ts');
    return runFuzzCommand(argv.slice(1));
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${chaosUsage}\n`);
    return 0;
  }
  let options: ReturnType<typeof parseChaosOptions>;
  try {
    options = parseChaosOptions(argv, freshSeed);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  try {
    return await runChaos(options);
  } catch (error) {
    if (error instanceof ChaosSetupError) {
      progress(error.message);
      return 2;
    }
    throw error;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Idle keep-alive sockets and clients must not hold the exit once the report is written.
  process.exit(await main(process.argv.slice(2)));
}
