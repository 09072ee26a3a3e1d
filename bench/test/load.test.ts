import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { loadWithoutRequests, runLoad, samplesFromTotals } from '../suite/load.ts';

test('when running totals are seen at times, then each second gets what completed in it', () => {
  const totals = [
    { atMs: 1_100, total: 10 },
    { atMs: 1_900, total: 30 },
    { atMs: 2_500, total: 45 },
    { atMs: 4_200, total: 50 },
  ];
  assert.deepEqual(samplesFromTotals(totals, 1_000), [30, 15, 0, 5]);
});

test('when a total is seen lower than before, then nothing is taken back', () => {
  assert.deepEqual(
    samplesFromTotals(
      [
        { atMs: 100, total: 5 },
        { atMs: 200, total: 4 },
        { atMs: 1_200, total: 6 },
      ],
      0,
    ),
    [5, 1],
  );
  assert.deepEqual(samplesFromTotals([], 0), []);
});

test('when work sent no request, then its load has a duration, completions and the generator share but no latency', () => {
  const load = loadWithoutRequests({
    startedAtMs: 1_000,
    endedAtMs: 3_500,
    completed: 5_000,
    samples: [2_000, 2_000, 1_000],
    generatorShare: 0.05,
  });
  assert.equal(load.durationS, 2.5);
  assert.equal(load.answered, 5_000);
  assert.deepEqual(load.statuses, {});
  assert.ok(Number.isNaN(load.latency.p99Ms));
  assert.equal(load.cpu.machineShare, 0.05);
  assert.deepEqual(load.inDoubt, []);
});

test('when the server closes the connection after every 400, then the node-http closed loop reconnects and counts each answer once', async () => {
  // As the seed's Tomcat does after its SOLD_OUT / ALREADY_ISSUED answers.
  let served = 0;
  const server = createServer((request, response) => {
    served += 1;
    const refused = new URL(request.url ?? '/', 'http://x').searchParams.get('user') === 'refused';
    if (refused) response.setHeader('connection', 'close');
    response.writeHead(refused ? 400 : 200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  try {
    const load = await runLoad(
      {
        url: `http://127.0.0.1:${port}`,
        mode: 'closed',
        driver: 'node-http',
        connections: 4,
        amount: 200,
        templates: [
          { method: 'POST', path: '/issue?user=accepted' },
          { method: 'POST', path: '/issue?user=refused' },
        ],
        timeoutS: 5,
      },
      'reconnect test',
    );
    assert.equal(load.sent, 200);
    assert.equal(load.answered, 200);
    assert.equal(served, 200, 'nothing was sent twice');
    assert.deepEqual(load.statuses, { 200: 100, 400: 100 });
    assert.equal(load.errors + load.timeouts, 0);
    assert.deepEqual(load.inDoubt, []);
    // Every 400 closed one; at most `connections` were open at the start.
    assert.ok((load.connectionsOpened ?? 0) >= 100, `opened ${load.connectionsOpened}`);
  } finally {
    server.close();
  }
});

test("when a closed loop of a fixed amount ends, then its duration ends with its last answer, not on the driver's next tick", async () => {
  // autocannon says it is done only on its one-second tick: a run of 200
  // instant answers took about a second by that clock.
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  try {
    const startedAt = performance.now();
    const load = await runLoad(
      {
        url: `http://127.0.0.1:${port}`,
        mode: 'closed',
        connections: 4,
        amount: 200,
        templates: [{ method: 'GET', path: '/' }],
        timeoutS: 5,
      },
      'fixed amount test',
    );
    const wallS = (performance.now() - startedAt) / 1_000;
    assert.equal(load.answered, 200);
    assert.ok(
      load.durationS > 0 && load.durationS < 0.5,
      `duration ${load.durationS} s (the run took ${wallS} s)`,
    );
    assert.equal(
      load.samples.reduce((sum, n) => sum + n, 0),
      200,
    );
  } finally {
    server.close();
  }
});
