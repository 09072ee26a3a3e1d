import assert from 'node:assert/strict';
import { AppError } from './errors.ts';

/** Largest amount of one operation, in won (docs/api.md). */
export const AMOUNT_MAX = 100_000_000n;
/** Largest balance an account may hold, in won (docs/api.md). */
export const BALANCE_MAX = 10n ** 15n;

export type AmountRange = { min?: bigint; max?: bigint };

/**
 * Turns a JSON amount into bigint won. Only a JS number that is a safe
 * integer within [min, max] is accepted: a string or float from the wire is a
 * client bug we refuse rather than round.
 */
export function parseAmount(value: unknown, { min = 1n, max = AMOUNT_MAX }: AmountRange = {}): bigint {
  if (typeof value !== 'number') throw invalidAmount('amount must be a JSON number');
  if (!Number.isSafeInteger(value)) throw invalidAmount('amount must be an integer number of won');
  const amount = BigInt(value);
  if (amount < min || amount > max) throw invalidAmount(`amount must be between ${min} and ${max}`);
  return amount;
}

function invalidAmount(reason: string): AppError {
  return new AppError('VALIDATION_FAILED', 400, reason);
}

/** Turns bigint won into a JSON number; amounts beyond 2^53 - 1 would lose digits, which is a bug. */
export function amountToJson(amount: bigint): number {
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  assert.ok(amount <= limit && amount >= -limit, `amount ${amount} does not fit a JSON number exactly`);
  return Number(amount);
}

const dbIntegerPattern = /^-?\d+$/;

/**
 * Reads a NUMERIC(20,0)/DECIMAL(20,0) column. Drivers return such columns as
 * strings (pg, mysql2) or, configured otherwise, as numbers/bigints. A
 * fraction or non-number here means the schema is not what the code assumes,
 * so it fails loudly instead of truncating.
 */
export function parseDbAmount(value: string | number | bigint): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    assert.ok(Number.isSafeInteger(value), `database amount ${value} is not a safe integer`);
    return BigInt(value);
  }
  assert.match(value, dbIntegerPattern, 'database amount is not an integer string');
  return BigInt(value);
}
