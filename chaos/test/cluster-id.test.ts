import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newClusterId } from '../infra.ts';

test('when a run makes its broker a cluster id, then it is 16 bytes of base64url and never starts with "-" (kafka-storage read such an id as an option)', () => {
  // One random id in 64 starts with "-": 2,000 draws meet one almost surely.
  for (let draw = 0; draw < 2_000; draw += 1) {
    const id = newClusterId();
    assert.ok(!id.startsWith('-'), id);
    assert.equal(Buffer.from(id, 'base64url').length, 16, id);
  }
});
