import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fillRandom, isUuidv7, uuidv7, uuidv7Floor, uuidv7Timestamp } from '../../src/ids.ts';

describe('uuidv7', () => {
  it('when generated, then it has the version 7 and RFC 9562 variant bits', () => {
    const id = uuidv7();
    assert.ok(isUuidv7(id), id);
    assert.equal(id[14], '7');
    assert.match(id[19] ?? '', /[89ab]/);
  });

  it('when given a timestamp, then the timestamp can be read back from the id', () => {
    const nowMs = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
    assert.equal(uuidv7Timestamp(uuidv7(nowMs)), nowMs);
  });

  it('when many ids are made in the same millisecond, then they are unique and sort in creation order', () => {
    const nowMs = Date.UTC(2031, 0, 1);
    const ids = Array.from({ length: 5_000 }, () => uuidv7(nowMs));
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  it('when the clock steps backwards, then ids still sort after the earlier ones', () => {
    const first = uuidv7(Date.UTC(2032, 0, 1, 0, 0, 1));
    const second = uuidv7(Date.UTC(2032, 0, 1, 0, 0, 0));
    assert.ok(second > first);
  });

  it('when a string is not a UUIDv7, then isUuidv7 says no', () => {
    assert.equal(isUuidv7('0193a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b'), false);
    assert.equal(isUuidv7('not-a-uuid'), false);
    assert.equal(isUuidv7(uuidv7().toUpperCase()), false);
  });

  it('when a range bound is made for a millisecond, then every id of that millisecond sorts at or after it and every earlier one before', () => {
    const ms = Date.parse('2026-12-05T12:00:00.000Z');
    const bound = uuidv7Floor(ms);
    assert.equal(uuidv7Timestamp(bound), ms);
    assert.ok(uuidv7(ms + 1) > bound);
    assert.ok(uuidv7Floor(ms - 1) < bound);
  });
});

describe('fillRandom', () => {
  it('when buffers are filled one after another, then each gets fresh bytes of the pool, across refills', () => {
    const seen = new Set<string>();
    // 2,000 × 12 bytes runs through the 4 KiB pool several times.
    for (let index = 0; index < 2_000; index += 1) seen.add(fillRandom(Buffer.alloc(12)).toString('hex'));
    assert.equal(seen.size, 2_000);
  });

  it('when the buffer is larger than a draw from the pool may be, then it is filled all the same', () => {
    const large = fillRandom(Buffer.alloc(64 * 1024));
    // 64 KiB of zeros after a fill has odds of 2^-524288.
    assert.ok(large.some((byte) => byte !== 0));
    assert.notEqual(
      large.subarray(0, 32).toString('hex'),
      large.subarray(32 * 1024, 32 * 1024 + 32).toString('hex'),
    );
  });
});
