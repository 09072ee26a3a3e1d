import { createHash, randomBytes } from 'node:crypto';
import {
  type AccessTokenVerifier,
  accessTokenAlgorithm,
  accessTokenAudience,
  accessTokenIssuer,
  createAccessTokenVerifier,
  createCachingAccessTokenVerifier,
} from '@nuri/platform/access-token';
import { uuidv7 } from '@nuri/platform/ids';
import { createLocalJWKSet, SignJWT } from 'jose';
import type { PublicJwk, SigningKeyring } from './signing-keys.ts';

/** 256 random bits: guessing one is hopeless, so a plain SHA-256 (no salt, no stretching) protects it at rest. */
const refreshTokenBytes = 32;

export interface AccessTokenIssuer {
  /** A signed JWT for `userUuid` and its lifetime in seconds. */
  issue(userUuid: string): Promise<{ token: string; expiresInSeconds: number }>;
  /** The public keys (JWKS) that verify what `issue` signs. */
  jwks(): { keys: PublicJwk[] };
  /** The same checks the gateway makes, against our own keys (defence in depth). */
  verifier: AccessTokenVerifier;
}

export function createAccessTokenIssuer(keyring: SigningKeyring, ttlSeconds: number): AccessTokenIssuer {
  const jwks = { keys: keyring.all.map((key) => key.publicJwk) };
  // A verified token is remembered until it expires (a client presents the
  // same one for 15 minutes, and an Ed25519 check costs more CPU than the rest
  // of a deposit). Safe here: our keys are fixed for the life of the process.
  const verifier = createCachingAccessTokenVerifier(createAccessTokenVerifier(createLocalJWKSet(jwks)));
  return {
    async issue(userUuid) {
      const nowSeconds = Math.floor(Date.now() / 1_000);
      const token = await new SignJWT({})
        // Exactly what every verifier accepts (access-token.ts): another typ
        // (RFC 9068's at+jwt, say) would be refused everywhere.
        .setProtectedHeader({ alg: accessTokenAlgorithm, kid: keyring.active.kid, typ: 'JWT' })
        .setSubject(userUuid)
        .setIssuer(accessTokenIssuer)
        .setAudience(accessTokenAudience)
        .setIssuedAt(nowSeconds)
        .setExpirationTime(nowSeconds + ttlSeconds)
        .setJti(uuidv7())
        .sign(keyring.active.privateKey);
      return { token, expiresInSeconds: ttlSeconds };
    },
    jwks: () => jwks,
    verifier,
  };
}

export function newRefreshToken(): string {
  return randomBytes(refreshTokenBytes).toString('base64url');
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
