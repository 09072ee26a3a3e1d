// Masking rules from docs/api.md. Full names, RRNs (주민등록번호) and phone numbers
// never leave the core zone unmasked: not in responses, events or logs.

const redacted = '[REDACTED]';
const rrnFallback = '******-*******';

/** 홍길동 → 홍*동, 홍길 → 홍*, 남궁민수 → 남**수, 홍 → *. Counts code points, not UTF-16 units. */
export function maskName(name: string): string {
  const chars = Array.from(name.trim());
  if (chars.length <= 1) return '*';
  if (chars.length === 2) return `${chars[0]}*`;
  return `${chars[0]}${'*'.repeat(chars.length - 2)}${chars.at(-1)}`;
}

const rrnShape = /^(\d{6})-?([1-8])\d{6}$/;

/** '9001011234567' or '900101-1234567' → '900101-1******'; anything else is masked whole. */
export function maskRrn(rrn: string): string {
  const match = rrnShape.exec(rrn.trim());
  if (match === null) return rrnFallback;
  return `${match[1]}-${match[2]}******`;
}

const mobileShape = /^(01[016789])(\d{3,4})(\d{4})$/;

/** '01012345678' → '010-1234-****', '010-123-4567' → '010-123-****'; +82 numbers too. Others: every digit masked. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/[\s.-]/g, '').replace(/^\+?82(?=1)/, '0');
  const match = mobileShape.exec(digits);
  if (match === null) return phone.replace(/\d/g, '*');
  return `${match[1]}-${match[2]}-****`;
}

// Patterns applied inside every string. The RRN's first six digits must look
// like a date (YYMMDD) so that epoch milliseconds and other long numbers are
// not mistaken for one; lookarounds keep matches off longer digit runs.
const rrnInText = /(?<!\d)(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))-?([1-8])\d{6}(?!\d)/g;
const mobileInText = /(?<![\d+])(?:\+82[-. ]?|0)1[016789][-. ]?\d{3,4}[-. ]?\d{4}(?!\d)/g;
const bearerInText = /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi;
// A JWT's header is base64url JSON, so it always starts with "eyJ" ('{"').
const jwtInText = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const secretQueryParam =
  /([?&](?:access_token|refresh_token|id_token|token|password|api_key|apikey)=)[^&#\s"]*/gi;

/** Masks RRNs and mobile numbers and removes bearer tokens, JWTs and secret query parameters from free text. */
export function redactString(text: string): string {
  return text
    .replace(bearerInText, redacted)
    .replace(jwtInText, redacted)
    .replace(secretQueryParam, `$1${redacted}`)
    .replace(rrnInText, '$1-$2******')
    .replace(mobileInText, (match) => maskPhone(match));
}

const secretKeys = new Set(['passwd', 'token', 'authorization', 'cookie', 'setcookie', 'apikey', 'xapikey']);
const nameKeys = new Set(['name', 'fullname', 'customername', 'realname']);
const rrnKeys = new Set(['rrn', 'residentnumber']);
const phoneKeys = new Set(['phone', 'phonenumber', 'mobile']);

type KeyRule = 'secret' | ((value: string) => string);

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

function ruleForKey(key: string): KeyRule | undefined {
  const normalized = normalizeKey(key);
  const isSecret =
    secretKeys.has(normalized) ||
    normalized.includes('password') ||
    normalized.includes('secret') ||
    normalized.endsWith('token');
  if (isSecret) return 'secret';
  if (nameKeys.has(normalized)) return maskName;
  if (rrnKeys.has(normalized)) return maskRrn;
  if (phoneKeys.has(normalized)) return maskPhone;
  return undefined;
}

/** The shapes redactString replaces, each tested once (no `g`: no lastIndex carried between calls). */
const shapesInText = [bearerInText, jwtInText, secretQueryParam, rrnInText, mobileInText].map(
  (shape) => new RegExp(shape.source, shape.flags.replace('g', '')),
);
/**
 * Every string of a JSON text without escapes, in order, and whether a colon
 * follows it (a key). Each match takes both quotes of one string, so the
 * next starts at the next string: a value's closing quote can never be
 * taken for the opening quote of a key that follows it.
 */
const stringInJson = /"([^"]*)"\s*(:)?/g;

/**
 * True when `json` — serialized JSON, as a log line is — certainly holds
 * nothing redact would change: no backslash (so every string is its
 * characters as written, and no escape can hide a shape or a key), no key
 * a rule applies to, and no text of any shape redactString replaces,
 * tested over the whole text (keys, numbers and punctuation included, so
 * it can only err towards redacting). Most lines — every access line of a
 * request without credentials in its URL — are clean, and are written as
 * they are instead of being parsed, walked and serialized again.
 */
export function isCleanJsonText(json: string): boolean {
  if (json.includes('\\')) return false;
  for (const shape of shapesInText) if (shape.test(json)) return false;
  stringInJson.lastIndex = 0;
  for (let match = stringInJson.exec(json); match !== null; match = stringInJson.exec(json)) {
    if (match[2] !== undefined && keyHasRule(match[1]!)) return false;
  }
  return true;
}

/** Whether a rule applies to each key seen so far: log lines repeat a few dozen keys. */
const keysSeen = new Map<string, boolean>();
const keysSeenMax = 4_096;
const keySeenLengthMax = 64;

function keyHasRule(key: string): boolean {
  let hasRule = keysSeen.get(key);
  if (hasRule === undefined) {
    hasRule = ruleForKey(key) !== undefined;
    // Bounded: a line of made-up keys (a map logged whole) must not grow it for ever.
    if (keysSeen.size < keysSeenMax && key.length <= keySeenLengthMax) keysSeen.set(key, hasRule);
  }
  return hasRule;
}

/** Nesting deeper than this is cut off: log payloads are never legitimately that deep. */
export const REDACT_DEPTH_MAX = 12;

/**
 * Returns a copy of `value` fit for a log line: secrets removed, PII masked by
 * key and by shape. Never mutates its input. Cycles become '[Circular]'.
 */
export function redact(value: unknown): unknown {
  return redactValue(value, 0, new WeakSet());
}

function redactValue(value: unknown, depth: number, ancestors: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value);
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Date) return value;
  if (ArrayBuffer.isView(value)) return `[Binary ${value.byteLength} bytes]`;
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= REDACT_DEPTH_MAX) return '[Truncated]';
  ancestors.add(value);
  const result = redactContainer(value, depth + 1, ancestors);
  ancestors.delete(value);
  return result;
}

function redactContainer(value: object, depth: number, ancestors: WeakSet<object>): unknown {
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth, ancestors));
  if (value instanceof Set) return [...value].map((item) => redactValue(item, depth, ancestors));
  if (value instanceof Map)
    return redactEntries(
      [...value].map(([k, v]) => [String(k), v]),
      depth,
      ancestors,
    );
  if (value instanceof Error) return redactEntries(errorEntries(value), depth, ancestors);
  return redactEntries(Object.entries(value), depth, ancestors);
}

function redactEntries(entries: Array<[string, unknown]>, depth: number, ancestors: WeakSet<object>) {
  const result: Record<string, unknown> = {};
  for (const [key, entryValue] of entries) {
    result[key] = redactEntry(key, entryValue, depth, ancestors);
  }
  return result;
}

// A secret key hides its value whatever it is. A PII key masks a scalar
// whole; a structured value under it (name: { first, last }) is walked.
function redactEntry(key: string, value: unknown, depth: number, ancestors: WeakSet<object>): unknown {
  const rule = ruleForKey(key);
  if (rule === 'secret') return redacted;
  const isScalar = typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint';
  if (rule !== undefined && isScalar) return rule(String(value));
  return redactValue(value, depth, ancestors);
}

// message, stack and cause are not enumerable on an Error, so they are picked
// explicitly; `type` mirrors pino's error serializer. An own `name` is the
// error's class, not a person, so it is left out rather than masked.
function errorEntries(error: Error): Array<[string, unknown]> {
  const entries: Array<[string, unknown]> = [
    ['type', error.constructor.name],
    ['message', error.message],
    ['stack', error.stack],
  ];
  if (error.cause !== undefined) entries.push(['cause', error.cause]);
  return [...entries, ...Object.entries(error).filter(([key]) => key !== 'name')];
}
