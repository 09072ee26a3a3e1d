// The transactional outbox below every service that publishes (channel-user,
// point, core-payment, coupon's mirror): events written to an outbox table,
// published to Kafka by the platform's relay and applied by an inbox consumer,
// on PostgreSQL and on MariaDB, with no service around it. The relay and the
// consumer run in a child process (outbox-relay-worker.ts), counted as the
// "outbox relay" group beside the database and the broker.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DatabaseDialect } from '@nuri/platform/db';
import { loadWithoutRequests } from '../load.ts';
import type { OutboxRelayMessage, OutboxRelaySpec } from '../outbox-relay-worker.ts';
import { progress } from '../progress.ts';
import { invariant, type RunOutcome, type Scenario, type SuiteContext } from '../scenario.ts';

const workerEntry = fileURLToPath(new URL('../outbox-relay-worker.ts', import.meta.url));
/** Inserting and relaying --events have their own bounds in the worker; this one only stops a stuck worker hanging the suite. */
const workerTimeoutMs = 1_200_000;

type MessageOf<Type extends OutboxRelayMessage['type']> = Extract<OutboxRelayMessage, { type: Type }>;

/** The worker's messages in order; each awaited by type, a `failed` or an early exit rejects. */
function messagesOf(worker: ChildProcess) {
  const received: OutboxRelayMessage[] = [];
  let wake = () => {};
  let ended: string | undefined;
  worker.on('message', (message: OutboxRelayMessage) => {
    received.push(message);
    wake();
  });
  worker.once('exit', (code) => {
    ended = `the outbox relay worker exited with ${code}`;
    wake();
  });
  return async function next<Type extends OutboxRelayMessage['type']>(type: Type): Promise<MessageOf<Type>> {
    const deadline = Date.now() + workerTimeoutMs;
    for (;;) {
      const message = received.shift();
      if (message?.type === 'failed') throw new Error(`outbox relay worker: ${message.message}`);
      if (message?.type === type) return message as MessageOf<Type>;
      if (message !== undefined)
        throw new Error(`outbox relay worker said ${message.type}, expected ${type}`);
      if (ended !== undefined) throw new Error(ended);
      if (Date.now() > deadline) throw new Error(`the outbox relay worker did not say ${type} in time`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1_000);
      });
    }
  };
}

async function relayRun(
  context: SuiteContext,
  dialect: DatabaseDialect,
  label: string,
  run: number,
): Promise<RunOutcome> {
  const events = context.options.outboxEvents;
  const short = dialect === 'postgres' ? 'pg' : 'my';
  const spec: OutboxRelaySpec = {
    dialect,
    serverUrl: dialect === 'postgres' ? context.infrastructure.pgUrl : context.infrastructure.mysqlUrl,
    database: `bench_outbox_${short}_${context.runKey}_${run}`,
    topic: `bench.${context.runKey}.outbox.${short}.${run}`,
    brokers: context.infrastructure.brokers,
    events,
    runKey: `${context.runKey}-${short}${run}`,
  };
  const worker = fork(workerEntry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const next = messagesOf(worker);
  try {
    worker.send(spec);
    const inserted = await next('inserted');
    progress(`  ${label} run ${run}: ${events} events in the outbox; relaying`);
    const cpuUntilNow = context.cpuFromNow();
    worker.send('relay');
    const relayed = await next('relayed');
    // The window ends with the last event applied; stopping and checking are outside it.
    const cpu = cpuUntilNow();
    const checked = await next('checked');
    await exited;
    return {
      figure: events / (relayed.endToEndMs / 1_000),
      figures: {
        brokerPerSecond: events / (relayed.brokerMs / 1_000),
        insertPerSecond: events / (inserted.insertMs / 1_000),
      },
      load: loadWithoutRequests({
        startedAtMs: relayed.startedAtMs,
        endedAtMs: relayed.startedAtMs + relayed.endToEndMs,
        completed: events,
        samples: relayed.samples,
        // The events were written before the window: nothing generates load in it.
        generatorShare: 0,
      }),
      cpu,
      operations: events,
      statuses: {},
      invariants: [
        invariant(
          `all ${events} events applied exactly once (counter = inbox rows)`,
          checked.counter === events && checked.inboxRows === events,
          `counter ${checked.counter}, inbox rows ${checked.inboxRows}`,
        ),
        invariant(
          'every outbox row sent (and so deleted)',
          checked.outboxRowsLeft === 0,
          `${checked.outboxRowsLeft} left unsent`,
        ),
        // A batch re-sent after a lost ack is acked twice; the inbox drops the second copy.
        invariant('the broker acked every event', checked.acked >= events, `${checked.acked} acked`),
      ],
    };
  } finally {
    if (worker.exitCode === null) worker.kill('SIGTERM');
  }
}

function outboxScenario(
  name: 'outbox-relay-postgres' | 'outbox-relay-mariadb',
  dialect: DatabaseDialect,
): Scenario {
  const server = dialect === 'postgres' ? 'PostgreSQL' : 'MariaDB';
  return {
    name,
    title: `Outbox relay on ${server}`,
    description: `--events events per run (default 100,000; deposit.requested envelopes) written to an outbox table on ${server} in transactions of 1,000, then published to a Kafka topic of 6 partitions by the platform's outbox relay (batches of 2,000${dialect === 'postgres' ? ', woken by LISTEN/NOTIFY' : ', polling'}) while an inbox consumer applies them (inbox row + counter update in one transaction, batches of 2,000), in a process of their own, on a throwaway database and topic: no service. Events/s is end to end, from the relay's start until the last event is applied; table→broker (acked) and the insert rate are reported beside it. CPU per event is that of the relay process, ${server} and Kafka over the relay window (the system's idle services left out). Checks: every event applied exactly once (counter = inbox rows = events); every outbox row sent (the relay deletes what it sent, so none is left); the broker acked every event.`,
    unit: 'events/s',
    higherIsBetter: true,
    defaultRuns: 3,
    target: { text: '≥ 10,000 events/s end to end', met: ({ figure }) => figure.median >= 10_000 },
    comparisons: [{ figure: 'brokerPerSecond', ceiling: 'kafka-producer' }],
    measuredGroups: ['outbox relay', dialect === 'postgres' ? 'postgresql' : 'mariadb', 'kafka'],
    withoutSystem: true,
    async prepare() {},
    async run(context, run) {
      return relayRun(context, dialect, name, run);
    },
  };
}

export const outboxRelayPostgres = outboxScenario('outbox-relay-postgres', 'postgres');
export const outboxRelayMariadb = outboxScenario('outbox-relay-mariadb', 'mysql');
