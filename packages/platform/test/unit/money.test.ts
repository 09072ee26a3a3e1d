import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors.ts';
import { AMOUNT_MAX, amountToJson, BALANCE_MAX, parseAmount, parseDbAmount } from '../../src/money.ts';

function assertValidationFailed(run: () => unknown, reason: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'VALIDATION_FAILED');
    assert.equal(error.status, 400);
    assert.match(error.detail ?? '', reason);
    return true;
  });
}

describe('parseAmount', () => {
  it('when the amount is an integer within 1..100,000,000, then it becomes a bigint', () => {
    assert.equal(parseAmount(1), 1n);
    assert.equal(parseAmount(100_000_000), AMOUNT_MAX);
  });

  it('when the amount is a string, float, NaN or missing, then it is refused', () => {
    assertValidationFailed(() => parseAmount('100'), /JSON number/);
    assertValidationFailed(() => parseAmount(undefined), /JSON number/);
    assertValidationFailed(() => parseAmount(10n), /JSON number/);
    assertValidationFailed(() => parseAmount(1.5), /integer/);
    assertValidationFailed(() => parseAmount(Number.NaN), /integer/);
    assertValidationFailed(() => parseAmount(Number.POSITIVE_INFINITY), /integer/);
    assertValidationFailed(() => parseAmount(2 ** 53), /integer/);
  });

  it('when the amount is zero, negative or above the maximum, then it is refused', () => {
    assertValidationFailed(() => parseAmount(0), /between 1 and 100000000/);
    assertValidationFailed(() => parseAmount(-5), /between/);
    assertValidationFailed(() => parseAmount(100_000_001), /between/);
  });

  it('when a route sets its own range, then that range applies', () => {
    assert.equal(parseAmount(0, { min: 0n }), 0n);
    assert.equal(parseAmount(1_000_000, { max: 1_000_000n }), 1_000_000n);
    assertValidationFailed(() => parseAmount(1_000_001, { max: 1_000_000n }), /between 1 and 1000000/);
  });
});

describe('amountToJson', () => {
  it('when the amount fits a JSON number exactly, then it is returned as a number', () => {
    assert.equal(amountToJson(BALANCE_MAX), 1e15);
    assert.equal(amountToJson(-42n), -42);
  });

  it('when the amount would lose digits as a number, then it fails loudly', () => {
    assert.throws(() => amountToJson(BigInt(Number.MAX_SAFE_INTEGER) + 1n), /does not fit/);
  });
});

describe('parseDbAmount', () => {
  it('when a driver returns a NUMERIC as a string, then digits and a leading minus are read exactly', () => {
    assert.equal(parseDbAmount('1000000000000000'), BALANCE_MAX);
    assert.equal(parseDbAmount('-7'), -7n);
    assert.equal(parseDbAmount('99999999999999999999'), 99_999_999_999_999_999_999n);
  });

  it('when a driver returns a number or bigint, then it is accepted if integral', () => {
    assert.equal(parseDbAmount(5), 5n);
    assert.equal(parseDbAmount(5n), 5n);
    assert.throws(() => parseDbAmount(1.5), /not a safe integer/);
  });

  it('when the column holds a fraction or non-digits, then it fails loudly instead of truncating', () => {
    assert.throws(() => parseDbAmount('10.50'), /not an integer/);
    assert.throws(() => parseDbAmount('1e3'), /not an integer/);
    assert.throws(() => parseDbAmount(''), /not an integer/);
  });
});

describe('limits', () => {
  it('when read, then they match the API contract', () => {
    assert.equal(AMOUNT_MAX, 100_000_000n);
    assert.equal(BALANCE_MAX, 1_000_000_000_000_000n);
  });
});
