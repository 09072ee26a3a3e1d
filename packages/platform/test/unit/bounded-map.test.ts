import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBoundedMap } from '../../src/bounded-map.ts';

// The bounded map behind the token cache, the account-link caches and the
// gateway's rate-limit counters: never more than its bound, the entries in
// use kept, the ones not read for longest forgotten first.

describe('bounded map', () => {
  it('when more keys are set than it may hold, then it never holds more than its bound', () => {
    const map = createBoundedMap<number, number>(10);
    for (let key = 0; key < 1_000; key++) {
      map.set(key, key);
      assert.ok(map.size <= 10, `size ${map.size} after ${key}`);
    }
    assert.ok(map.size >= 5, 'at least half the bound stays');
    assert.equal(map.get(999), 999, 'the newest is there');
    assert.equal(map.get(0), undefined, 'the oldest is gone');
  });

  it('when an entry keeps being read, then it outlives the entries set after it that are never read', () => {
    const map = createBoundedMap<string, number>(4);
    map.set('kept', 1);
    for (let key = 0; key < 100; key++) {
      map.set(`other-${key}`, key);
      assert.equal(map.get('kept'), 1, `lost after ${key}`);
    }
    assert.equal(map.get('other-0'), undefined);
    assert.equal(map.get('other-99'), 99);
  });

  it('when a key is set again, deleted or asked about, then the map answers as a Map would', () => {
    const map = createBoundedMap<string, string>(4);
    map.set('a', 'first');
    map.set('b', 'b');
    map.set('c', 'c'); // a is now in the older half
    map.set('a', 'second');
    assert.equal(map.get('a'), 'second');
    assert.equal(map.size, 3, 'a set again is one entry');
    assert.ok(map.has('b'));
    map.delete('b');
    assert.ok(!map.has('b'));
    assert.equal(map.get('b'), undefined);
    assert.equal(map.size, 2);
    map.delete('nothing');
    assert.equal(map.size, 2);
  });

  it('when the bound is odd, or a read from the older half fills the younger one, then it still holds no more than the bound', () => {
    const odd = createBoundedMap<number, number>(5);
    for (let key = 0; key < 50; key++) odd.set(key, key);
    assert.ok(odd.size <= 5 && odd.size >= 2, `size ${odd.size}`);
    const map = createBoundedMap<string, number>(4);
    for (const key of ['a', 'b', 'c', 'd']) map.set(key, 1); // a, b older; c, d younger (full)
    assert.equal(map.get('a'), 1, 'read from the older half');
    // The younger half was full: it became the older one and a is young again; b is gone.
    assert.equal(map.size, 3);
    assert.ok(map.has('a') && map.has('c') && map.has('d'));
    assert.ok(!map.has('b'));
  });

  it('when the bound cannot hold two halves, then it is refused', () => {
    for (const bad of [0, 1, 2.5, Number.NaN]) {
      assert.throws(() => createBoundedMap(bad), RangeError, String(bad));
    }
  });
});
