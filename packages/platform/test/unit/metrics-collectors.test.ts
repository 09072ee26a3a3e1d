import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createGroupCommit, GroupCommitFullError } from '../../src/group-commit.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createUpstream } from '../../src/upstream.ts';

function sample(text: string, name: string, label: string): number | undefined {
  const line = text.split('\n').find((row) => row.startsWith(`${name}{`) && row.includes(label));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('when a group commit holds items back, then the scrape shows its waiting items and its refusals by queue', async () => {
  const metrics = createMetrics('core-payment');
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((resolve) => {
    release = resolve;
  });
  const queue = createGroupCommit<number, number>({
    name: 'withdrawals-test',
    batchSizeMax: 1,
    queueLengthMax: 2,
    concurrency: 1,
    run: async (items) => {
      await blocked;
      return [...items];
    },
  });
  const first = queue.submit(1);
  await new Promise((resolve) => setImmediate(resolve)); // the first batch starts and blocks
  const waiting = [queue.submit(2), queue.submit(3)];
  await assert.rejects(queue.submit(4), GroupCommitFullError);
  const text = await metrics.registry.metrics();
  assert.equal(sample(text, 'nuri_group_commit_waiting', 'queue="withdrawals-test"'), 2);
  assert.equal(sample(text, 'nuri_group_commit_running', 'queue="withdrawals-test"'), 1);
  assert.equal(sample(text, 'nuri_group_commit_refused_total', 'queue="withdrawals-test"'), 1);
  release();
  await Promise.all([first, ...waiting]);
  const after = await metrics.registry.metrics();
  assert.equal(sample(after, 'nuri_group_commit_waiting', 'queue="withdrawals-test"'), 0);
});

test('when a called instance refuses connections, then the scrape shows its circuit open until it is closed', async () => {
  const metrics = createMetrics('channel-user');
  // A port nothing listens on: found free, then closed.
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
  const upstream = createUpstream({
    name: 'core-payment-test',
    urls: [`http://127.0.0.1:${port}`],
    connectionsMax: 1,
    attemptTimeoutMs: 500,
    probe: { intervalMs: 0 },
  });
  const label = `upstream="core-payment-test"`;
  assert.equal(sample(await metrics.registry.metrics(), 'nuri_upstream_instance_ready', label), 1);
  await assert.rejects(upstream.request({ method: 'GET', path: '/' }));
  assert.equal(sample(await metrics.registry.metrics(), 'nuri_upstream_instance_ready', label), 0);
  await upstream.close();
  assert.equal(sample(await metrics.registry.metrics(), 'nuri_upstream_instance_ready', label), undefined);
});
