import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError, isAppError } from '../../src/errors.ts';

describe('AppError', () => {
  it('when created with code, status, detail and extra fields, then it carries them all', () => {
    const error = new AppError('ALREADY_ISSUED', 409, 'one coupon per user', { couponId: 'c-1' });
    assert.equal(error.code, 'ALREADY_ISSUED');
    assert.equal(error.status, 409);
    assert.equal(error.detail, 'one coupon per user');
    assert.deepEqual(error.extra, { couponId: 'c-1' });
    assert.equal(error.message, 'one coupon per user');
    assert.ok(error instanceof Error);
    assert.ok(isAppError(error));
  });

  it('when created without detail, then the message falls back to the code and extra is empty', () => {
    const error = new AppError('SOLD_OUT', 410);
    assert.equal(error.detail, undefined);
    assert.equal(error.message, 'SOLD_OUT');
    assert.deepEqual(error.extra, {});
  });

  it('when printed, then it is named AppError, but the name is not an enumerable field a logger would copy', () => {
    const error = new AppError('SOLD_OUT', 410);
    assert.equal(error.name, 'AppError');
    assert.match(String(error), /^AppError: SOLD_OUT/);
    assert.ok(!Object.keys(error).includes('name'));
  });

  it('when the code is not UPPER_SNAKE or the status is not an error status, then construction fails', () => {
    assert.throws(() => new AppError('soldOut', 410), /UPPER_SNAKE/);
    assert.throws(() => new AppError('SOLD__OUT', 410), /UPPER_SNAKE/);
    assert.throws(() => new AppError('OK', 200), /4xx\/5xx/);
  });

  it('when it is a 4xx, then no stack is captured; a 5xx keeps its stack, and the limit is restored', () => {
    const limit = Error.stackTraceLimit;
    const refusal = new AppError('SOLD_OUT', 410);
    const outage = new AppError('SERVICE_UNAVAILABLE', 503);
    assert.doesNotMatch(refusal.stack ?? '', /\n\s+at /);
    assert.match(outage.stack ?? '', /\n\s+at /);
    assert.equal(Error.stackTraceLimit, limit);
  });

  it('when given a plain Error, then isAppError says no', () => {
    assert.equal(isAppError(new Error('x')), false);
  });
});
