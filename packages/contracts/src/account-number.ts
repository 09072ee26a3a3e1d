// Account numbers are `ddd-ddd-dddddd` (docs/api.md): 11 random digits and a Luhn
// check digit, so a mistyped digit or a swapped neighbour pair is caught
// before any lookup.

export const accountNoPattern = /^\d{3}-\d{3}-\d{6}$/;
/** The Luhn check digit that makes `payload` followed by it pass the Luhn test. */
export function luhnCheckDigit(payload: string): number {
  let sum = 0;
  // Walking from the right, the payload's last digit is the one doubled first,
  // because the check digit will take position one.
  for (let index = payload.length - 1, double = true; index >= 0; index -= 1, double = !double) {
    let digit = Number(payload[index]);
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

/** True when every digit of `digits` (check digit last) passes the Luhn test. */
export function passesLuhn(digits: string): boolean {
  if (!/^\d{2,}$/.test(digits)) return false;
  return luhnCheckDigit(digits.slice(0, -1)) === Number(digits.at(-1));
}

export function isValidAccountNo(accountNo: string): boolean {
  return accountNoPattern.test(accountNo) && passesLuhn(accountNo.replaceAll('-', ''));
}
