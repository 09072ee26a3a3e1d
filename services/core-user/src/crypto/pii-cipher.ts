import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { IdentityField } from '@nuri/contracts/identity';
import { setErrorName } from '@nuri/platform/errors';

// AES-256-GCM for each PII value (docs/architecture.md, Security). A stored value is one
// self-describing envelope:
//
//   version (1 byte) | key id length (1) | key id (ASCII) | nonce (12) | ciphertext | tag (16)
//
// so any key of the keyring can open it and keys can rotate. The additional
// authenticated data binds the value to its row and column (userUuid + field):
// a ciphertext copied to another user or another field does not decrypt.

export const keyLengthBytes = 32;
export const nonceLengthBytes = 12; // 96 bits: the size GCM is specified for
export const tagLengthBytes = 16;
const envelopeVersion = 1;
const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;
/** A base64url string of 32 bytes without padding. */
const key256Pattern = /^[A-Za-z0-9_-]{43}$/;
export const piiKeyringKeysMax = 16;

export type PiiKeyring = {
  /** The key that encrypts; every key in `keys` decrypts. */
  activeKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
};

export class KeyringError extends Error {
  /** Which input is wrong: the key list or the active key id. */
  readonly subject: 'keys' | 'activeKeyId';

  constructor(message: string, subject: 'keys' | 'activeKeyId' = 'keys') {
    super(message);
    setErrorName(this, 'KeyringError');
    this.subject = subject;
  }
}

export class PiiDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    setErrorName(this, 'PiiDecryptionError');
  }
}

/** Decodes a base64url 256-bit key, or returns undefined. */
export function decodeKey256(text: string): Buffer | undefined {
  if (!key256Pattern.test(text)) return undefined;
  const key = Buffer.from(text, 'base64url');
  return key.length === keyLengthBytes ? key : undefined;
}

/**
 * Parses `kid:base64url(32 bytes)` entries separated by commas. Errors describe
 * the entry by position, never by content: the text is a secret.
 */
export function parsePiiKeyring(keysText: string, activeKeyId: string): PiiKeyring {
  const entries = keysText.split(',');
  if (entries.length > piiKeyringKeysMax) throw new KeyringError(`holds more than ${piiKeyringKeysMax} keys`);
  const keys = new Map<string, Buffer>();
  entries.forEach((entry, index) => {
    const separator = entry.indexOf(':');
    const keyId = entry.slice(0, separator);
    const key = decodeKey256(entry.slice(separator + 1));
    if (separator <= 0 || !keyIdPattern.test(keyId) || key === undefined) {
      throw new KeyringError(
        `entry ${index + 1} must be kid:base64url(32 bytes) with kid of [A-Za-z0-9_-]{1,32}`,
      );
    }
    if (keys.has(keyId)) throw new KeyringError(`entry ${index + 1} repeats a key id`);
    keys.set(keyId, key);
  });
  if (!keys.has(activeKeyId)) throw new KeyringError('does not contain the active key id', 'activeKeyId');
  return { activeKeyId, keys };
}

export type PiiCipher = {
  readonly activeKeyId: string;
  encrypt(userUuid: string, field: IdentityField, plaintext: string): Buffer;
  /** Throws PiiDecryptionError when the key is unknown or the value was altered, moved or truncated. */
  decrypt(userUuid: string, field: IdentityField, envelope: Uint8Array): string;
};

export function createPiiCipher(keyring: PiiKeyring): PiiCipher {
  const activeKey = keyring.keys.get(keyring.activeKeyId);
  assert.ok(activeKey !== undefined, 'the active key id must name a key of the keyring');
  const activeKeyIdBytes = Buffer.from(keyring.activeKeyId, 'ascii');
  return {
    activeKeyId: keyring.activeKeyId,
    encrypt(userUuid, field, plaintext) {
      const nonce = randomBytes(nonceLengthBytes);
      const cipher = createCipheriv('aes-256-gcm', activeKey, nonce, { authTagLength: tagLengthBytes });
      cipher.setAAD(associatedData(userUuid, field));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const header = Buffer.from([envelopeVersion, activeKeyIdBytes.length]);
      return Buffer.concat([header, activeKeyIdBytes, nonce, ciphertext, cipher.getAuthTag()]);
    },
    decrypt(userUuid, field, envelope) {
      const { keyId, nonce, ciphertext, tag } = openEnvelope(envelope);
      const key = keyring.keys.get(keyId);
      if (key === undefined)
        throw new PiiDecryptionError(`no key ${keyId} in the keyring for ${field} of ${userUuid}`);
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: tagLengthBytes });
      decipher.setAAD(associatedData(userUuid, field));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
      } catch {
        throw new PiiDecryptionError(`the ${field} ciphertext of ${userUuid} does not authenticate`);
      }
    },
  };
}

/** The key id an envelope was encrypted under (tests and operators check rotation with it). */
export function envelopeKeyId(envelope: Uint8Array): string {
  return openEnvelope(envelope).keyId;
}

function openEnvelope(envelope: Uint8Array) {
  const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  const keyIdLength = bytes[1] ?? 0;
  const nonceStart = 2 + keyIdLength;
  const ciphertextStart = nonceStart + nonceLengthBytes;
  const tagStart = bytes.length - tagLengthBytes;
  if (bytes[0] !== envelopeVersion || keyIdLength === 0 || tagStart < ciphertextStart) {
    throw new PiiDecryptionError('the ciphertext envelope is malformed');
  }
  return {
    keyId: bytes.subarray(2, nonceStart).toString('ascii'),
    nonce: bytes.subarray(nonceStart, ciphertextStart),
    ciphertext: bytes.subarray(ciphertextStart, tagStart),
    tag: bytes.subarray(tagStart),
  };
}

function associatedData(userUuid: string, field: IdentityField): Buffer {
  return Buffer.from(`nuri.core-user.pii.v1|${userUuid}|${field}`, 'utf8');
}
