import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newCouponCode } from '../../src/domain/coupon-code.ts';

describe('newCouponCode', () => {
  it('when made, then it is three groups of four Crockford base32 characters', () => {
    for (let index = 0; index < 100; index += 1) {
      assert.match(newCouponCode(), /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    }
  });

  it('when many are made, then they differ and every character of the alphabet turns up in every position', () => {
    const codes = Array.from({ length: 20_000 }, () => newCouponCode());
    assert.equal(new Set(codes).size, codes.length);
    for (const position of [0, 5, 13]) {
      // 20,000 draws of 32 characters: each expected 625 times; a missing one would mean a biased draw.
      assert.equal(new Set(codes.map((code) => code[position])).size, 32, `position ${position}`);
    }
  });
});
