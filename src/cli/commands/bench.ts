import type { CliConfig } from '../config.ts';
import { infraUp } from '../infra/index.ts';

// `nuri bench [name…] [options]`: the benchmark suite (bench/suite), called
// through its one entry point, runBench, in this process. Names and options
// go to it as they are; it answers --help and usage errors itself, and the
// infrastructure comes up only once the arguments are good.
export async function bench(config: CliConfig, args: string[]): Promise<number> {
  const { runBench } = await import('../../../bench/suite/main.ts');
  const code = await runBench(args, {
    beforeRun: async () => {
      await infraUp(config);
    },
  });
  // As `node bench/suite/main.ts` does: timers the run's clients leave behind
  // would otherwise hold the exit for seconds after the report is written.
  process.exit(code);
}
