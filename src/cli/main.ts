import { join, resolve } from 'node:path';
import { ConfigError } from '@nuri/platform/config';
import { dlq, payments } from './commands/operations.ts';
import { reconcile } from './commands/reconcile.ts';
import { migrateAll, runScript, startSystem } from './commands/system.ts';
import { runTests } from './commands/test.ts';
import { type CliConfig, loadCliConfig } from './config.ts';
import { infraDown, infraStatus, infraUp, stopStarted } from './infra/index.ts';
import { CliError, say } from './log.ts';
import { logDir } from './logs.ts';
import { monitoringDown, monitoringUp, targetsFile } from './monitoring.ts';
import { rootDir } from './paths.ts';
import { environmentWithSecrets, serviceEnvironment } from './secrets.ts';
import { services } from './services.ts';
import { printStatus, statusFile } from './status.ts';
import { parseScale } from './topology.ts';
import { buildWeb, webOutputDir } from './web.ts';

const usage = `usage: nuri <command>

  infra up        start what is down (PostgreSQL, MariaDB, Redis, Kafka), create databases and topics
  infra down      stop the Kafka broker that nuri started
  infra status    each component, its state, version and address
  migrate         run every service's database migrations
  build-web       build the web console (web/console) into .nuri/web, or into the folder given
  start [--scale name=n,…] [--monitoring]
                  infra up, migrate, run every service and the gateway, each supervised
                  (restarted when it dies); --scale (or NURI_SCALE) runs n instances of a
                  service; --monitoring also runs Prometheus; Ctrl-C stops all it started
                  (every instance's output is also kept in .nuri/logs/)
  status          every instance of the running \`npm start\`: pid, port, state, restarts, uptime
  monitoring up|down
                  Prometheus on 127.0.0.1:9090 scraping every instance of npm start, with the
                  alert rules of deploy/monitoring/rules (Debian's prometheus package)
  trace <traceId|requestId>
                  one request's journey across the services, from npm start's logs
  test [filter…]  infra up, then unit, integration and end-to-end tests (Node's test runner)
  bench [name…]   the benchmark suite: every flow through the gateway, straight at a service and
                  below the services; report in bench/results (--help: scenarios and options)
  chaos [--seed N] [--duration S] [--faults …] | chaos fuzz [--seed N]
                  faults injected under a bank workload, invariants checked; or hostile-input
                  fuzzing of every public route; report in chaos/results (--help: options)
  reconcile       reconciliation report; exits 1 on any mismatch, 2 when it cannot check
  dlq list [topic…]                 dead letters, with their error and whether they were replayed
  dlq replay <ref>… | --all [topic…] [--again]
                  send dead letters back to their topic (audited; once unless --again)
  payments retry <paymentId>… | --stuck
                  one more cash request for payments the saga reported stuck
  core-user reencrypt   move every customer's PII ciphertexts to the active key
  images [base | build [--base IMAGE] [target…]]
                  container images: a Debian base with Node from npm, every service, Kafka (podman or docker)
  compose up|down the whole bank in containers (deploy/compose/system.yaml), on ports of its own
  k8s secrets [--overlay local|hybrid]
                  Secret manifests for deploy/k8s from a freshly generated set of secrets
  k8s rules       write the rules of deploy/monitoring/rules into deploy/k8s as PrometheusRules
                  (components/monitoring/rules/prometheus-rules.yaml)
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
    case 'build-web':
      await buildWeb(rest[0] === undefined ? undefined : resolve(rest[0]));
      say(`built the web console into ${rest[0] ?? webOutputDir}`);
      return 0;
    case 'start':
      return start(loadCliConfig(), rest);
    case 'status':
      return printStatus();
    case 'monitoring':
      return monitoring(loadCliConfig(), rest[0]);
    case 'trace':
      return (await import('./commands/trace.ts')).trace(rest);
    case 'test':
      return test(loadCliConfig(), rest);
    case 'bench':
      return (await import('./commands/bench.ts')).bench(loadCliConfig(), rest);
    case 'chaos':
      return (await import('./commands/chaos.ts')).runChaosCommand(loadCliConfig(), rest);
    case 'reconcile':
      return reconcile(loadCliConfig());
    case 'dlq':
      return dlq(loadCliConfig(), rest);
    case 'payments':
      return payments(loadCliConfig(), rest);
    case 'core-user':
      return coreUser(rest[0]);
    case 'images':
      return (await import('./commands/images.ts')).images(rest);
    case 'compose':
      return (await import('./commands/compose.ts')).compose(rest);
    case 'k8s':
      return (await import('./commands/k8s.ts')).k8s(rest);
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
  const coreUserSpec = services.find((service) => service.name === 'core-user')!;
  return runScript(
    join(rootDir, 'services', 'core-user', 'src', 'reencrypt.ts'),
    serviceEnvironment(coreUserSpec, environmentWithSecrets()),
  );
}

async function start(config: CliConfig, args: string[]): Promise<number> {
  const options = startArguments(args);
  const scale = parseScale(options.scale ?? config.NURI_SCALE);
  const infraResult = await infraUp(config);
  await infraStatus(config);
  const system = await startSystem(config, process.env, { scale, statusFile, targetsFile, logDir });
  const counts = system.topology.instances.length;
  const prometheus = options.monitoring ? await monitoringUp(config.NURI_PROMETHEUS_PORT) : undefined;
  say(
    `Nuri Bank is up: ${system.gatewayUrl} (GET ${system.gatewayUrl}/health), ${counts} instances ` +
      `(npx nuri status lists them; their output is kept in ${logDir}).` +
      (prometheus === undefined ? '' : ` Prometheus: ${prometheus.url}.`) +
      ' Ctrl-C stops everything.',
  );
  const reason = await waitForStopSignal();
  say(`stopping (${reason})`);
  await system.stop();
  if (prometheus?.started === true) await monitoringDown();
  await stopStarted(infraResult);
  return 0;
}

/** `--scale a=1,b=2` (or `--scale=a=1,b=2`) and `--monitoring`; anything else is a usage error. */
function startArguments(args: string[]): { scale: string | undefined; monitoring: boolean } {
  let scale: string | undefined;
  let monitoring = false;
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === '--scale') {
      scale = args[index + 1];
      if (scale === undefined) throw new CliError('--scale wants name=count[,name=count…]');
      index += 1;
    } else if (arg.startsWith('--scale=')) {
      scale = arg.slice('--scale='.length);
    } else if (arg === '--monitoring') {
      monitoring = true;
    } else {
      throw new CliError(`unknown option '${arg}' for start\n${usage}`);
    }
  }
  return { scale, monitoring };
}

async function monitoring(config: CliConfig, action: string | undefined): Promise<number> {
  switch (action) {
    case 'up':
      await monitoringUp(config.NURI_PROMETHEUS_PORT);
      return 0;
    case 'down':
      await monitoringDown();
      return 0;
    default:
      throw new CliError('usage: nuri monitoring up|down');
  }
}

async function test(config: CliConfig, filters: string[]): Promise<number> {
  const infraResult = await infraUp(config);
  try {
    return await runTests(config, filters);
  } finally {
    if (!config.NURI_KEEP_INFRA) await stopStarted(infraResult);
  }
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
