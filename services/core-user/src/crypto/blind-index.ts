import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { keyLengthBytes } from './pii-cipher.ts';

// The duplicate check looks people up by RRN without storing it: an
// HMAC-SHA-256 of the canonical 13 digits under a key kept apart from the
// encryption keys. RRNs have little entropy, so without the secret key the
// index could be reversed by enumeration; with it, the column alone says
// nothing. The label separates this index from any other HMAC under the key.
const rrnLabel = 'nuri.core-user.rrn.v1|';
const canonicalRrn = /^\d{13}$/;

export type RrnBlindIndexer = (rrn: string) => Buffer;

export function createRrnBlindIndexer(key: Buffer): RrnBlindIndexer {
  assert.equal(key.length, keyLengthBytes, 'the blind index key must be 32 bytes');
  const keyCopy = Buffer.from(key);
  return (rrn) => {
    // Only the canonical form is indexed, or one person could register twice.
    // (assert.match would carry the value into the error, and so into logs.)
    assert.ok(canonicalRrn.test(rrn), 'the blind index takes a normalised RRN');
    return createHmac('sha256', keyCopy)
      .update(rrnLabel + rrn, 'utf8')
      .digest();
  };
}
