import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { byUserAndKey } from '../../src/idempotency.ts';

// Batches of key rows are inserted in one order (by user, then key, bytewise),
// so two batches in flight that hold the same keys cannot wait on each other
// in a cycle (a reviewer reproduced that deadlock on PostgreSQL with crossed
// rows); twins keep their arrival order, so the first still owns the key.

describe('key rows in one order', () => {
  const row = (user_uuid: string, idem_key: string, n: number) => ({ user_uuid, idem_key, n });

  it('when two batches hold the same keys in opposite orders, then both are inserted in the same order', () => {
    const first = [row('u2', 'k2', 1), row('u1', 'k1', 2)];
    const second = [row('u1', 'k1', 3), row('u2', 'k2', 4)];
    const keys = (batch: typeof first) =>
      [...batch].sort(byUserAndKey).map((r) => `${r.user_uuid}/${r.idem_key}`);
    assert.deepEqual(keys(first), keys(second));
    assert.deepEqual(keys(first), ['u1/k1', 'u2/k2']);
  });

  it('when keys differ in case, underscores or dashes, then the order is bytewise, as PostgreSQL sorts them with collate "C"', () => {
    const sorted = [
      row('u', 'b', 0),
      row('u', 'B', 0),
      row('u', '_a', 0),
      row('u', '-a', 0),
      row('u', '9', 0),
    ]
      .sort(byUserAndKey)
      .map((r) => r.idem_key);
    assert.deepEqual(sorted, ['-a', '9', 'B', '_a', 'b']);
  });

  it('when one key comes twice, then the copies keep their arrival order', () => {
    const sorted = [row('u2', 'k', 1), row('u1', 'k', 2), row('u2', 'k', 3), row('u1', 'k', 4)].sort(
      byUserAndKey,
    );
    assert.deepEqual(
      sorted.map((r) => r.n),
      [2, 4, 1, 3],
    );
  });
});
