import { randomBytes } from 'node:crypto';

// Crockford's base32: no I, L, O or U, so a code read aloud or typed is not misread.
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const groupCount = 3;
const groupLength = 4;

/** A 60-bit random code such as `7K3M-QX9D-2HJA`; unique per coupon for all practical purposes. */
export function newCouponCode(): string {
  const bytes = randomBytes(groupCount * groupLength);
  const characters = [...bytes].map((byte) => alphabet[byte & 31]);
  const groups: string[] = [];
  for (let index = 0; index < groupCount; index += 1) {
    groups.push(characters.slice(index * groupLength, (index + 1) * groupLength).join(''));
  }
  return groups.join('-');
}
