import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { CliConfig } from '../config.ts';
import { infraComponents } from '../infra/index.ts';
import { rootDir } from '../paths.ts';
import { environmentWithSecrets } from '../secrets.ts';

// `nuri chaos [options]` and `nuri chaos fuzz [options]`: chaos/main.ts in a
// process of its own. The run brings its own Kafka broker and Redis; it
// needs PostgreSQL and MariaDB up (the machine's shared servers, where its
// throwaway databases live), so those are started here when they are down,
// as `nuri infra up` would.
const entry = join(rootDir, 'chaos', 'main.ts');

export async function runChaosCommand(config: CliConfig, args: string[]): Promise<number> {
  if (!args.includes('--help')) {
    for (const component of infraComponents(config)) {
      if (component.name !== 'postgresql' && component.name !== 'mariadb') continue;
      if ((await component.probe()) === null) await component.start();
    }
  }
  const child = spawn(process.execPath, [entry, ...args], {
    cwd: rootDir,
    stdio: 'inherit',
    env: environmentWithSecrets(),
  });
  return new Promise((resolveCode) =>
    child.on('exit', (code, signal) => resolveCode(code ?? (signal ? 1 : 0))),
  );
}
