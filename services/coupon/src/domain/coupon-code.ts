import { fillRandom } from '@nuri/platform/ids';

// Crockford's base32: no I, L, O or U, so a code read aloud or typed is not misread.
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const groupCount = 3;
const groupLength = 4;
const codeBytes = Buffer.alloc(groupCount * groupLength);

/**
 * A 60-bit random code such as `7K3M-QX9D-2HJA`; unique per coupon for all
 * practical purposes. Every issue request draws one before the race (the
 * script stores it if the request wins), so the bytes come from the
 * platform's random pool rather than a randomBytes call each.
 */
export function newCouponCode(): string {
  fillRandom(codeBytes);
  let code = '';
  for (let index = 0; index < codeBytes.length; index += 1) {
    if (index > 0 && index % groupLength === 0) code += '-';
    code += alphabet[codeBytes[index]! & 31];
  }
  return code;
}
