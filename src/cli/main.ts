import { join } from 'node:path';
import { ConfigError } from '@nuri/platform/config';
import { reconcile } from './commands/reconcile.ts';
import { migrateAll, runScript, startSystem } from './commands/system.ts';
import { runTests } from './commands/test.ts';
import { type CliConfig, loadCliConfig } from './config.ts';
import { infraDown, infraStatus, infraUp, stopStarted } from './infra/index.ts';
import { CliError, say } from './log.ts';
import { rootDir } from './paths.ts';
import { environmentWithSecrets } from './secrets.ts';

const usage = `usage: nuri <command>

  infra up        start what is down (PostgreSQL, MariaDB, Redis, Kafka), create databases and topics
  infra down      stop the Kafka broker that nuri started
  infra status    each component, its state, version and address
  migrate         run every service's database migrations
  start           infra up, migrate, run every service and the gateway (Ctrl-C stops all it started)
  test [filter…]  infra up, then unit, integration and end-to-end tests (Node's test runner)
  bench [name…]   the benchmark suite through the gateway, report in bench/results (--help: options)
  reconcile       reconciliation report; exits 1 on any mismatch, 2 when it cannot check
  core-user reencrypt   move every customer's PII ciphertexts to the active key
  version         the Node.js version the CLI runs on`;

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'infra':
      return infra(rest[0]);
    case 'migrate': {
      const config = loadCliConfig();
      await infraUp(config);
      await migrateAll(config, environmentWithSecrets());
      return 0;
    }
    case 'start':
      return start(loadCliConfig());
    case 'test':
      return test(loadCliConfig(), rest);
    case 'bench':
      return bench(loadCliConfig(), rest);
    case 'reconcile':
      return reconcile(loadCliConfig());
    case 'core-user':
      return coreUser(rest[0]);
    case 'version':
      process.stdout.write(`${process.version}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${usage}\n`);
      return command === undefined ? 1 : 0;
    default:
      throw new CliError(`unknown command '${command}'\n${usage}`);
  }
}

async function infra(action: string | undefined): Promise<number> {
  const config = loadCliConfig();
  switch (action) {
    case 'up': {
      const startedAt = Date.now();
      await infraUp(config);
      say(`infrastructure up in ${Date.now() - startedAt} ms`);
      return (await infraStatus(config)) ? 0 : 1;
    }
    case 'down':
      await infraDown(config);
      return 0;
    case 'status':
      return (await infraStatus(config)) ? 0 : 1;
    default:
      throw new CliError(`usage: nuri infra up|down|status`);
  }
}

async function coreUser(action: string | undefined): Promise<number> {
  if (action !== 'reencrypt') throw new CliError('usage: nuri core-user reencrypt');
  await infraUp(loadCliConfig());
  return runScript(join(rootDir, 'services', 'core-user', 'src', 'reencrypt.ts'), environmentWithSecrets());
}

async function start(config: CliConfig): Promise<number> {
  const infraResult = await infraUp(config);
  await infraStatus(config);
  const system = await startSystem(config);
  say(`Nuri Bank is up: ${system.gatewayUrl} (GET ${system.gatewayUrl}/health). Ctrl-C stops everything.`);
  const reason = await Promise.race([waitForStopSignal(), system.crashed.then((name) => `${name} crashed`)]);
  say(`stopping (${reason})`);
  await system.stop();
  await stopStarted(infraResult);
  return reason.endsWith('crashed') ? 1 : 0;
}

async function test(config: CliConfig, filters: string[]): Promise<number> {
  const infraResult = await infraUp(config);
  try {
    return await runTests(config, filters);
  } finally {
    if (!config.NURI_KEEP_INFRA) await stopStarted(infraResult);
  }
}

async function bench(config: CliConfig, args: string[]): Promise<number> {
  await infraUp(config);
  const { runBench } = await import('./commands/bench.ts');
  return runBench(config, args);
}

function waitForStopSignal(): Promise<string> {
  return new Promise((resolveSignal) => {
    // One Ctrl-C may arrive twice (from the terminal and forwarded by the
    // launcher); the first starts a clean stop, the rest are ignored.
    const onSignal = (signal: NodeJS.Signals) => resolveSignal(signal);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => undefined);
  });
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof CliError || error instanceof ConfigError) {
    say(error.message);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  } else {
    throw error;
  }
}
