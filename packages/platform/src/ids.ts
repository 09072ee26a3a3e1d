import { randomFillSync } from 'node:crypto';

// UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Within one
// millisecond the 12-bit rand_a field counts up so ids made by one process
// sort in creation order (method 1 of RFC 9562 §6.2), which keeps B-tree
// inserts append-only.
let lastMs = 0;
let sequence = 0;
const sequenceMax = 0xfff;

// Random bits are drawn from a pool refilled for many ids at once: a
// randomBytes call per id (every request id) was a visible share of a
// request's CPU in the gateway. The bits are as random; only fewer calls.
const randomPool = Buffer.alloc(4_096);
let randomPoolOffset = randomPool.length;
const idBytes = Buffer.alloc(16);

function takeRandom(length: number): number {
  if (randomPoolOffset + length > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  const offset = randomPoolOffset;
  randomPoolOffset += length;
  return offset;
}

/** Fills `target` with random bytes from the pool (as random as randomFillSync, fewer calls). */
export function fillRandom(target: Buffer): Buffer {
  if (target.length > randomPool.length / 8) return randomFillSync(target);
  const offset = takeRandom(target.length);
  randomPool.copy(target, 0, offset, offset + target.length);
  return target;
}

/**
 * A new UUIDv7, later than every id this process made before: `nowMs` is the
 * clock (tests pass their own), so an instant earlier than the last id's
 * still gives an id after it, and one in the future dates every later id
 * there. For the bound of a time range use uuidv7Floor.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    sequence = randomPool.readUInt16BE(takeRandom(2)) & 0x7ff; // leave headroom to count up
  } else {
    sequence += 1;
    if (sequence > sequenceMax) {
      // Counter exhausted within one millisecond: borrow the next millisecond.
      lastMs += 1;
      sequence = 0;
    }
  }
  const bytes = idBytes;
  // Bytes 0–7 are all time and sequence; 8–15 are random (but the variant bits).
  const randomOffset = takeRandom(8);
  randomPool.copy(bytes, 8, randomOffset, randomOffset + 8);
  const ms = lastMs;
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | ((sequence >>> 8) & 0x0f);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const uuidv7Pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isUuidv7(value: string): boolean {
  return uuidv7Pattern.test(value);
}

/** Milliseconds since the epoch encoded in a UUIDv7. */
export function uuidv7Timestamp(id: string): number {
  return Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
}

/** The smallest UUIDv7 of a millisecond: ids made at or after `ms` sort at or after it (a range bound). */
export function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}
