import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  accountNoPattern,
  generateAccountNo,
  isValidAccountNo,
  luhnCheckDigit,
  passesLuhn,
} from '../../src/domain/account-number.ts';

describe('account numbers', () => {
  it('when the Luhn check digit is computed for known numbers, then it matches the published ones', () => {
    // 79927398713 is the textbook Luhn example; 4539 1488 0343 6467 a valid test card number.
    assert.equal(luhnCheckDigit('7992739871'), 3);
    assert.equal(passesLuhn('79927398713'), true);
    assert.equal(passesLuhn('4539148803436467'), true);
    assert.equal(passesLuhn('4539148803436468'), false);
  });

  it('when 2,000 numbers are generated, then each is ddd-ddd-dddddd and its 12 digits pass Luhn', () => {
    for (let index = 0; index < 2_000; index += 1) {
      const accountNo = generateAccountNo();
      assert.match(accountNo, accountNoPattern);
      assert.equal(accountNo.length, 14);
      assert.ok(passesLuhn(accountNo.replaceAll('-', '')), accountNo);
      assert.ok(isValidAccountNo(accountNo));
    }
  });

  it('when the random source is fixed, then the number is the payload plus its check digit', () => {
    const digits = [1, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9];
    let next = 0;
    const accountNo = generateAccountNo(() => digits[next++]!);
    assert.equal(accountNo, `110-234-56789${luhnCheckDigit('11023456789')}`);
  });

  it('when one digit is mistyped or two neighbours swapped, then the number is refused', () => {
    const accountNo = generateAccountNo();
    const digits = accountNo.replaceAll('-', '');
    const mistyped = `${digits.slice(0, 5)}${(Number(digits[5]) + 1) % 10}${digits.slice(6)}`;
    assert.equal(passesLuhn(mistyped), false);
    if (digits[3] !== digits[4] && Math.abs(Number(digits[3]) - Number(digits[4])) !== 9) {
      const swapped = `${digits.slice(0, 3)}${digits[4]}${digits[3]}${digits.slice(5)}`;
      assert.equal(passesLuhn(swapped), false);
    }
    assert.equal(isValidAccountNo('110234567890'), false, 'dashes are part of the format');
  });
});
