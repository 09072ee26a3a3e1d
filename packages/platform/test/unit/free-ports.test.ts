import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { freePorts } from '../../src/testing.ts';

// The test helper that hands a throwaway broker its listeners' ports: asked
// one at a time, two ports once came back the same.

describe('free ports', () => {
  it('when several ports are asked for at once, then they are distinct and each can be listened on', async () => {
    for (let round = 0; round < 20; round++) {
      const ports = await freePorts(3);
      assert.equal(new Set(ports).size, 3, `round ${round}: ${ports.join(', ')}`);
      for (const port of ports) {
        await new Promise<void>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
        });
      }
    }
  });
});
