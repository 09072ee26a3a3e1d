import { randomInt } from 'node:crypto';
import { luhnCheckDigit } from '@nuri/contracts/account-number';

export {
  accountNoPattern,
  isValidAccountNo,
  luhnCheckDigit,
  passesLuhn,
} from '@nuri/contracts/account-number';

const payloadDigits = 11;

/** A fresh random account number; uniqueness is the database's to enforce. */
export function generateAccountNo(randomDigit: () => number = () => randomInt(10)): string {
  let payload = '';
  for (let index = 0; index < payloadDigits; index += 1) payload += String(randomDigit());
  const digits = `${payload}${luhnCheckDigit(payload)}`;
  return `${digits.slice(0, 3)}-${digits.slice(3, 6)}-${digits.slice(6)}`;
}
