import Type, { type Static } from 'typebox';

// Identity fields of a real-name registration (docs/api.md, Auth): the rules
// channel-user checks at signup and core-user enforces again before storing.
// Wire schemas bound the input (so nothing unbounded reaches a regex or a
// cipher); the parse functions apply the real rules and return the canonical
// form that is stored, compared and blind-indexed. A failure names the rule,
// never the value: these values are PII.

export const nameLengthMax = 50;
// Room for surrounding spaces and a decomposed (NFD) spelling, which NFC
// shortens; anything longer cannot become a valid name.
export const nameInputLengthMax = 200;

/** Raw wire inputs. */
export const NameInput = Type.String({ minLength: 1, maxLength: nameInputLengthMax });
export const RrnInput = Type.String({ pattern: '^[0-9]{6}-?[0-9]{7}$' });
export const PhoneInput = Type.String({ pattern: '^01[016789]-?[0-9]{4}-?[0-9]{4}$' });

/** Canonical forms, as parse* returns them. */
export const Name = Type.String({ minLength: 1, maxLength: nameLengthMax });
export const Rrn = Type.String({ pattern: '^[0-9]{13}$' });
export const Phone = Type.String({ pattern: '^01[016789][0-9]{8}$' });

export type Identity = { name: string; rrn: string; phone: string | null };
export type IdentityField = keyof Identity;

export const IdentityInput = Type.Object({
  name: NameInput,
  rrn: RrnInput,
  phone: Type.Optional(PhoneInput),
});
export type IdentityInput = Static<typeof IdentityInput>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

// Hangul syllables (U+AC00–U+D7A3, what NFC composes jamo into) and Latin
// letters including the accented ones of Latin-1 and Latin Extended-A/B
// (× and ÷ excluded), so a foreigner's passport name fits. Words are
// separated by exactly one space.
const nameWord = '[A-Za-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u024F\\uAC00-\\uD7A3]+';
const namePattern = new RegExp(`^${nameWord}(?: ${nameWord})*$`, 'u');

export const nameProblem = `must be 1–${nameLengthMax} Hangul or Latin letters, words separated by single spaces`;
export const rrnProblem =
  'must be a resident registration number YYMMDD-GNNNNNN with a real, past birth date and G in 1–8';
export const phoneProblem = 'must be a mobile number 01X-XXXX-XXXX (010, 011, 016, 017, 018 or 019)';

/** NFC-normalises and trims; then 1–50 code points of letters with single spaces between words. */
export function parseName(raw: string): Parsed<string> {
  if (raw.length > nameInputLengthMax) return { ok: false, problem: nameProblem };
  const name = raw.normalize('NFC').trim();
  const length = Array.from(name).length;
  if (length < 1 || length > nameLengthMax || !namePattern.test(name))
    return { ok: false, problem: nameProblem };
  return { ok: true, value: name };
}

const rrnShape = /^(\d{2})(\d{2})(\d{2})-?([1-8])(\d{6})$/;
// The gender/century digit: 1,2 (citizens) and 5,6 (foreigners) were born in
// the 1900s; 3,4 and 7,8 in the 2000s. 9 and 0 (the 1800s) cannot belong to a
// living customer, so they are refused with the rest.
const centuryByGenderDigit: Readonly<Record<string, number>> = {
  '1': 1900,
  '2': 1900,
  '5': 1900,
  '6': 1900,
  '3': 2000,
  '4': 2000,
  '7': 2000,
  '8': 2000,
};

export type BirthDate = { year: number; month: number; day: number };

/**
 * Returns the 13-digit RRN. The trailing check digit is deliberately not
 * verified: numbers issued since October 2020 no longer carry one.
 * `now` decides what "in the future" means (in Korean time, where RRNs are issued).
 */
export function parseRrn(raw: string, now: Date = new Date()): Parsed<string> {
  const birthDate = rrnBirthDate(raw);
  if (birthDate === undefined || isAfterTodayInKorea(birthDate, now))
    return { ok: false, problem: rrnProblem };
  return { ok: true, value: raw.replace('-', '') };
}

/** The birth date an RRN encodes, or undefined when its shape, gender digit or calendar date is invalid. */
export function rrnBirthDate(rrn: string): BirthDate | undefined {
  const match = rrnShape.exec(rrn);
  if (match === null) return undefined;
  const [, yy, mm, dd, genderDigit] = match;
  const century = centuryByGenderDigit[genderDigit!];
  if (century === undefined) return undefined;
  const date = { year: century + Number(yy), month: Number(mm), day: Number(dd) };
  return isCalendarDate(date) ? date : undefined;
}

function isCalendarDate({ year, month, day }: BirthDate): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  // Day 0 of the next month is the last day of this one; Date.UTC knows leap years.
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= daysInMonth;
}

const koreaOffsetMs = 9 * 60 * 60 * 1000; // KST is UTC+9 all year (no daylight saving)

function isAfterTodayInKorea({ year, month, day }: BirthDate, now: Date): boolean {
  const today = new Date(now.getTime() + koreaOffsetMs);
  const todayKey = today.getUTCFullYear() * 10_000 + (today.getUTCMonth() + 1) * 100 + today.getUTCDate();
  return year * 10_000 + month * 100 + day > todayKey;
}

const phoneShape = /^(01[016789])-?(\d{4})-?(\d{4})$/;

/** Returns the 11 digits of a mobile number, e.g. '01012345678'. */
export function parsePhone(raw: string): Parsed<string> {
  const match = phoneShape.exec(raw);
  if (match === null) return { ok: false, problem: phoneProblem };
  return { ok: true, value: `${match[1]}${match[2]}${match[3]}` };
}

/** Parses every field; the first failure names its field. */
export function parseIdentity(
  input: { name: string; rrn: string; phone?: string | undefined },
  now: Date = new Date(),
): { ok: true; value: Identity } | { ok: false; field: IdentityField; problem: string } {
  const name = parseName(input.name);
  if (!name.ok) return { ok: false, field: 'name', problem: name.problem };
  const rrn = parseRrn(input.rrn, now);
  if (!rrn.ok) return { ok: false, field: 'rrn', problem: rrn.problem };
  if (input.phone === undefined)
    return { ok: true, value: { name: name.value, rrn: rrn.value, phone: null } };
  const phone = parsePhone(input.phone);
  if (!phone.ok) return { ok: false, field: 'phone', problem: phone.problem };
  return { ok: true, value: { name: name.value, rrn: rrn.value, phone: phone.value } };
}
