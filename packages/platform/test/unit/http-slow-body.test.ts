import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpApp, runServer } from '../../src/http.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';

// Found by `npm run chaos -- fuzz`: a body sent a byte a second was never cut
// off (Node's requestTimeout only covers the headers), so slow clients could
// hold connections for ever.

/** Sends the headers and then one body byte every `everyMs`; resolves with how long until the server hung up. */
function trickle(port: number, everyMs: number, limitMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let timer: NodeJS.Timeout | undefined;
    const end = () => {
      clearInterval(timer);
      socket.destroy();
      resolve(Date.now() - started);
    };
    socket.on('connect', () => {
      socket.write(
        'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
      );
      timer = setInterval(() => socket.write(' '), everyMs);
    });
    socket.on('close', end);
    socket.on('error', end);
    setTimeout(end, limitMs).unref();
  });
}

describe('request bodies', () => {
  it('when a body trickles in a byte at a time, then the connection is dropped once requestTimeoutMs has passed; a prompt body is answered', {
    timeout: 10_000,
  }, async () => {
    const logger = createLogger({ name: 'test', level: 'silent' });
    const app = createHttpApp({
      name: 'test',
      logger,
      metrics: createMetrics('test'),
      requestTimeoutMs: 400,
    });
    app.post('/echo', async (request) => ({ received: request.body }));
    const handle = await runServer(app, { host: '127.0.0.1', port: 0, signals: [], exit: () => undefined });
    try {
      const heldMs = await trickle(handle.port, 50, 5_000);
      assert.ok(heldMs >= 350 && heldMs < 2_000, `the slow body was dropped after ${heldMs} ms`);
      await sleep(500);
      const prompt = await fetch(`http://127.0.0.1:${handle.port}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 1 }),
      });
      assert.equal(prompt.status, 200);
      assert.deepEqual(await prompt.json(), { received: { amount: 1 } });
    } finally {
      await handle.shutdown('test');
    }
  });
});
