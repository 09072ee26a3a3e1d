import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createRrnBlindIndexer } from '../../src/crypto/blind-index.ts';
import {
  createPiiCipher,
  envelopeKeyId,
  KeyringError,
  PiiDecryptionError,
  parsePiiKeyring,
} from '../../src/crypto/pii-cipher.ts';

const alice = '01936b2e-8f00-7000-8000-000000000001';
const bob = '01936b2e-8f00-7000-8000-000000000002';
const key = () => randomBytes(32).toString('base64url');

function keyring(keysText: string, active: string) {
  return parsePiiKeyring(keysText, active);
}

describe('PII cipher', () => {
  const k1 = key();
  const cipher = createPiiCipher(keyring(`k1:${k1}`, 'k1'));

  it('when a value is encrypted and decrypted for the same user and field, then it round-trips', () => {
    const envelope = cipher.encrypt(alice, 'name', '홍길동');
    assert.equal(cipher.decrypt(alice, 'name', envelope), '홍길동');
    assert.equal(envelopeKeyId(envelope), 'k1');
  });

  it('when the same value is encrypted twice, then the ciphertexts differ (random nonce) and hold no plaintext', () => {
    const first = cipher.encrypt(alice, 'rrn', '9001011234567');
    const second = cipher.encrypt(alice, 'rrn', '9001011234567');
    assert.notDeepEqual(first, second);
    assert.equal(first.includes(Buffer.from('9001011234567')), false);
  });

  it('when any single byte of the envelope is flipped, then decryption fails', () => {
    const envelope = cipher.encrypt(alice, 'phone', '01012345678');
    for (let index = 0; index < envelope.length; index += 1) {
      const tampered = Buffer.from(envelope);
      tampered[index]! ^= 0x01;
      assert.throws(() => cipher.decrypt(alice, 'phone', tampered), PiiDecryptionError, `byte ${index}`);
    }
  });

  it('when a ciphertext is moved to another user or another field, then decryption fails', () => {
    const envelope = cipher.encrypt(alice, 'name', '홍길동');
    assert.throws(() => cipher.decrypt(bob, 'name', envelope), PiiDecryptionError);
    assert.throws(() => cipher.decrypt(alice, 'rrn', envelope), PiiDecryptionError);
  });

  it('when the envelope is truncated or its version unknown, then decryption fails', () => {
    const envelope = cipher.encrypt(alice, 'name', '홍길동');
    assert.throws(() => cipher.decrypt(alice, 'name', envelope.subarray(0, 20)), PiiDecryptionError);
    const wrongVersion = Buffer.from(envelope);
    wrongVersion[0] = 2;
    assert.throws(() => cipher.decrypt(alice, 'name', wrongVersion), PiiDecryptionError);
  });

  it('when the keyring rotates to k2 keeping k1, then old values decrypt and new ones use k2; without k1 old ones fail', () => {
    const old = cipher.encrypt(alice, 'name', '홍길동');
    const rotated = createPiiCipher(keyring(`k1:${k1},k2:${key()}`, 'k2'));
    assert.equal(rotated.decrypt(alice, 'name', old), '홍길동');
    assert.equal(envelopeKeyId(rotated.encrypt(alice, 'name', '홍길동')), 'k2');
    const withoutK1 = createPiiCipher(keyring(`k3:${key()}`, 'k3'));
    assert.throws(() => withoutK1.decrypt(alice, 'name', old), /no key k1/);
  });

  it('when a different key carries the same id, then decryption fails instead of returning garbage', () => {
    const impostor = createPiiCipher(keyring(`k1:${key()}`, 'k1'));
    assert.throws(
      () => impostor.decrypt(alice, 'name', cipher.encrypt(alice, 'name', '홍길동')),
      PiiDecryptionError,
    );
  });
});

describe('parsePiiKeyring', () => {
  it('when entries are malformed, repeated, or the active id is missing, then it refuses without echoing keys', () => {
    const secret = key();
    const cases: Array<[string, string, string]> = [
      [`k1:${secret.slice(1)}`, 'k1', 'keys'],
      [`k1${secret}`, 'k1', 'keys'],
      [`k1:${secret},k1:${key()}`, 'k1', 'keys'],
      [`k|1:${secret}`, 'k|1', 'keys'],
      [`k1:${secret}`, 'k2', 'activeKeyId'],
    ];
    for (const [text, active, subject] of cases) {
      assert.throws(
        () => parsePiiKeyring(text, active),
        (error) =>
          error instanceof KeyringError && error.subject === subject && !error.message.includes(secret),
      );
    }
  });
});

describe('RRN blind index', () => {
  it('when the same RRN is indexed under one key, then the index is equal; under another key it differs', () => {
    const blindKey = randomBytes(32);
    const index = createRrnBlindIndexer(blindKey);
    assert.deepEqual(index('9001011234567'), index('9001011234567'));
    assert.notDeepEqual(index('9001011234567'), index('9001011234568'));
    assert.notDeepEqual(index('9001011234567'), createRrnBlindIndexer(randomBytes(32))('9001011234567'));
    assert.equal(index('9001011234567').length, 32);
  });

  it('when an RRN is not in canonical 13-digit form, then indexing it is a programming error', () => {
    const index = createRrnBlindIndexer(randomBytes(32));
    assert.throws(
      () => index('900101-1234567'),
      (error: Error) => !error.message.includes('1234567'),
    );
  });
});
