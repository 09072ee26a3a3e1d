import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

/** One Ed25519 key of the access-token keyring and its published public half. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: PublicJwk;
}

export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SigningKeyring {
  /** The key that signs new tokens. */
  active: SigningKey;
  /** Every key, active included: tokens signed by a retired key stay valid until they expire. */
  all: SigningKey[];
}

export class SigningKeysError extends Error {
  readonly variable: 'NURI_JWT_SIGNING_KEYS' | 'NURI_JWT_ACTIVE_KEY_ID';
  constructor(variable: SigningKeysError['variable'], message: string) {
    super(message);
    this.name = 'SigningKeysError';
    this.variable = variable;
  }
}

/** Parses `kid:base64url(PKCS8 DER)` pairs (comma separated), as `nuri` generates them (src/cli/secrets.ts). */
export function parseSigningKeys(keys: string, activeKeyId: string): SigningKeyring {
  const all: SigningKey[] = [];
  for (const entry of keys.split(',')) {
    const separator = entry.indexOf(':');
    const kid = entry.slice(0, separator);
    if (separator <= 0 || all.some((key) => key.kid === kid)) {
      throw new SigningKeysError('NURI_JWT_SIGNING_KEYS', 'must list `kid:key` pairs with distinct kids');
    }
    all.push(toSigningKey(kid, entry.slice(separator + 1)));
  }
  const active = all.find((key) => key.kid === activeKeyId);
  if (active === undefined) {
    throw new SigningKeysError(
      'NURI_JWT_ACTIVE_KEY_ID',
      'must name one of the kids in NURI_JWT_SIGNING_KEYS',
    );
  }
  return { active, all };
}

function toSigningKey(kid: string, encoded: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(encoded, 'base64url'), format: 'der', type: 'pkcs8' });
  } catch {
    throw new SigningKeysError('NURI_JWT_SIGNING_KEYS', `key ${kid} is not a PKCS8 DER key`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeysError('NURI_JWT_SIGNING_KEYS', `key ${kid} is not an Ed25519 key`);
  }
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new SigningKeysError('NURI_JWT_SIGNING_KEYS', `key ${kid} has no x`);
  return {
    kid,
    privateKey,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: 'EdDSA', use: 'sig' },
  };
}
