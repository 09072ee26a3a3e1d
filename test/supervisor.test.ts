import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { reservePortOffset } from '../e2e/harness.ts';
import { rootDir } from '../src/cli/paths.ts';
import { isProcessAlive } from '../src/cli/process.ts';
import { type InstanceStatus, type RestartPolicy, Supervisor } from '../src/cli/supervisor.ts';

// The supervisor with real processes (a tiny HTTP server, or a script that
// exits at once), killed for real.

const fixture = join(rootDir, 'test', 'fixtures', 'instance.mjs');
const fastPolicy: RestartPolicy = {
  initialBackoffMs: 100,
  maxBackoffMs: 800,
  stableAfterMs: 1_500,
  crashLoopAfter: 3,
};
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function supervisorWith(specs: Array<{ name: string; exitCode?: number }>) {
  const ports = await reservePortOffset();
  cleanups.push(() => ports.release());
  const reports: string[] = [];
  const changes: InstanceStatus[][] = [];
  const supervisor = new Supervisor({
    nameWidth: 10,
    restartPolicy: fastPolicy,
    readyProbeIntervalMs: 200,
    onOutputLine: () => undefined,
    report: (message) => void reports.push(message),
    onChange: (list) => void changes.push(list),
  });
  cleanups.push(() => supervisor.stopAll());
  specs.forEach(({ name, exitCode }, index) => {
    // Between this offset's service ports (≤ offset + 8383) and the next offset's reservation (offset + 9000).
    const port = ports.offset + 8_500 + index;
    supervisor.start({
      name,
      service: name,
      index: 0,
      port,
      command: process.execPath,
      args: [fixture],
      env: {
        ...process.env,
        PORT: String(port),
        ...(exitCode === undefined ? {} : { EXIT_CODE: String(exitCode) }),
      },
      readyUrl: `http://127.0.0.1:${port}/health/ready`,
    });
  });
  return { supervisor, reports, changes };
}

async function until(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('when an instance is killed, then it alone is restarted after the back-off and becomes ready again; the other keeps its pid', async () => {
  const { supervisor, reports } = await supervisorWith([{ name: 'a' }, { name: 'b' }]);
  await until('both ready', () => supervisor.list().every((instance) => instance.state === 'ready'));
  const [a, b] = supervisor.list() as [InstanceStatus, InstanceStatus];
  supervisor.signal('a', 'SIGKILL');
  await until('a restarting', () => supervisor.status('a').state !== 'ready');
  await until(
    'a ready again',
    () => supervisor.status('a').state === 'ready' && supervisor.status('a').pid !== a.pid,
  );
  const restarted = supervisor.status('a');
  assert.equal(restarted.restarts, 1);
  assert.equal(restarted.lastExit?.signal, 'SIGKILL');
  assert.ok(!isProcessAlive(a.pid!));
  assert.equal(supervisor.status('b').pid, b.pid);
  assert.equal(supervisor.status('b').restarts, 0);
  assert.ok(
    reports.some((line) => /a exited unexpectedly \(SIGKILL\).*restarting in 0\.1 s/.test(line)),
    reports.join('\n'),
  );
});

test('when an instance is restarted, then its new process is told how many restarts came before it', async () => {
  const { supervisor } = await supervisorWith([{ name: 'a' }]);
  await until('a ready', () => supervisor.status('a').state === 'ready');
  const readiness = async () => {
    const response = await fetch(`http://127.0.0.1:${supervisor.status('a').port}/health/ready`);
    return ((await response.json()) as { instance: { pid: number; restarts: number } }).instance;
  };
  const first = await readiness();
  assert.deepEqual(first, { pid: supervisor.status('a').pid, restarts: 0 });
  supervisor.signal('a', 'SIGKILL');
  await until(
    'a ready again',
    () => supervisor.status('a').state === 'ready' && supervisor.status('a').pid !== first.pid,
  );
  assert.deepEqual(await readiness(), { pid: supervisor.status('a').pid, restarts: 1 });
});

test('when an instance keeps exiting right after it starts, then the back-off doubles and it is reported as crash-looping, loudly, with its last lines', async () => {
  const { supervisor, reports, changes } = await supervisorWith([
    { name: 'bad', exitCode: 3 },
    { name: 'good' },
  ]);
  await until('bad crash-looping', () => supervisor.status('bad').state === 'crash-looping');
  const delays = reports
    .map((line) => /(?:restarting|next start) in ([\d.]+) s/.exec(line)?.[1])
    .filter(Boolean);
  assert.deepEqual(delays.slice(0, 3), ['0.1', '0.2', '0.4']);
  const loud = reports.find((line) => line.includes('CRASH-LOOPING'));
  assert.ok(loud, reports.join('\n'));
  assert.match(loud, /3 exits in a row/);
  assert.match(loud, /code 3/);
  assert.match(loud, /failing on purpose/);
  assert.ok(
    changes.some((list) => list.find((instance) => instance.name === 'bad')?.state === 'crash-looping'),
  );
  await until('good ready', () => supervisor.status('good').state === 'ready');
  // It keeps being tried, at the capped interval.
  const restarts = supervisor.status('bad').restarts;
  await until('another try', () => supervisor.status('bad').restarts > restarts, 5_000);
});

test('when an instance stayed up past the stable period, then its next exit starts the back-off over', async () => {
  const { supervisor, reports } = await supervisorWith([{ name: 'steady' }]);
  await until('ready', () => supervisor.status('steady').state === 'ready');
  for (let kill = 0; kill < 2; kill += 1) {
    const pid = supervisor.status('steady').pid;
    supervisor.signal('steady', 'SIGKILL');
    await until(
      'back',
      () => supervisor.status('steady').state === 'ready' && supervisor.status('steady').pid !== pid,
    );
  }
  await sleep(fastPolicy.stableAfterMs + 200);
  supervisor.signal('steady', 'SIGKILL');
  await until('third exit told', () => reports.length >= 3);
  const delays = reports.map((line) => /restarting in ([\d.]+) s/.exec(line)?.[1]);
  assert.deepEqual(delays, ['0.1', '0.2', '0.1']);
});

test('when the supervisor stops everything, then every instance gets SIGTERM once, exits, and none is restarted', async () => {
  const { supervisor, reports } = await supervisorWith([{ name: 'x' }, { name: 'y' }]);
  await until('both ready', () => supervisor.list().every((instance) => instance.state === 'ready'));
  const pids = supervisor.list().map((instance) => instance.pid!);
  supervisor.signal('y', 'SIGSTOP');
  await supervisor.stopAll();
  assert.ok(
    pids.every((pid) => !isProcessAlive(pid)),
    'a stopped (SIGSTOP) instance is stopped too',
  );
  assert.ok(supervisor.list().every((instance) => instance.state === 'stopped'));
  await sleep(300);
  assert.deepEqual(reports, []);
  assert.ok(supervisor.list().every((instance) => instance.pid === undefined));
});
