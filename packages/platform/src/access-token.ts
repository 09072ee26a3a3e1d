import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { AppError } from './errors.ts';
import { isUuidv7 } from './ids.ts';

/** Claims every Nuri access token carries (channel-user issues them; docs/architecture.md "Login"). */
export const accessTokenIssuer = 'https://nuri.bank/channel-user';
export const accessTokenAudience = 'nuri-bank-api';
export const accessTokenAlgorithm = 'EdDSA';

export interface AccessTokenClaims {
  userUuid: string;
  tokenId: string;
  expiresAt: Date;
}

export interface AccessTokenVerifier {
  /** Resolves with the claims, or throws AppError 401 UNAUTHENTICATED (never says why to the client). */
  verify(token: string): Promise<AccessTokenClaims>;
}

export interface RemoteVerifierOptions {
  /** channel-user's `/.well-known/jwks.json`, at each of its instances (any one serves the same keys). */
  jwksUrls: readonly string[];
  fetchTimeoutMs?: number;
  /** How long fetched keys are trusted before a refetch. */
  cacheMaxAgeMs?: number;
  /** A token with an unknown `kid` refetches the set, but at most this often (key rotation without a stampede). */
  refetchCooldownMs?: number;
  clockToleranceSeconds?: number;
}

/**
 * Verifies against a JWKS fetched over HTTP and cached; an unknown kid
 * triggers one refetch. With several instances, the keys come from the one
 * that last answered, and from the next when it cannot be reached.
 */
export function createRemoteAccessTokenVerifier(options: RemoteVerifierOptions): AccessTokenVerifier {
  if (options.jwksUrls.length === 0) throw new Error('no JWKS URL');
  const sources = options.jwksUrls.map((url) =>
    createRemoteJWKSet(new URL(url), {
      timeoutDuration: options.fetchTimeoutMs ?? 2_000,
      cacheMaxAge: options.cacheMaxAgeMs ?? 10 * 60_000,
      cooldownDuration: options.refetchCooldownMs ?? 30_000,
    }),
  );
  let current = 0;
  const keys: JWTVerifyGetKey = async (header, token) => {
    let lastError: unknown;
    for (let tried = 0; tried < sources.length; tried += 1) {
      const index = (current + tried) % sources.length;
      try {
        const key = await sources[index]!(header, token);
        current = index;
        return key;
      } catch (error) {
        if (!isKeySetUnavailable(error)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  };
  return createAccessTokenVerifier(keys, options.clockToleranceSeconds ?? 5);
}

/** Verifies against a key resolver (a local JWKS in channel-user and in tests). */
export function createAccessTokenVerifier(
  keys: JWTVerifyGetKey,
  clockToleranceSeconds = 5,
): AccessTokenVerifier {
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, keys, {
          issuer: accessTokenIssuer,
          audience: accessTokenAudience,
          algorithms: [accessTokenAlgorithm],
          clockTolerance: clockToleranceSeconds,
          requiredClaims: ['sub', 'exp', 'jti', 'iat'],
        });
        const userUuid = payload.sub;
        if (typeof userUuid !== 'string' || !isUuidv7(userUuid) || typeof payload.jti !== 'string') {
          throw new AppError('UNAUTHENTICATED', 401, 'The access token is invalid');
        }
        return { userUuid, tokenId: payload.jti, expiresAt: new Date((payload.exp ?? 0) * 1_000) };
      } catch (error) {
        if (error instanceof AppError) throw error;
        if (isKeySetUnavailable(error)) {
          // Keys could not be fetched: an outage of channel-user, not a bad token.
          throw new AppError('AUTH_UNAVAILABLE', 503, 'Tokens cannot be verified right now; retry shortly');
        }
        throw new AppError('UNAUTHENTICATED', 401, 'The access token is missing, invalid or expired');
      }
    },
  };
}

export interface CachingVerifierOptions {
  /** Distinct tokens remembered; beyond this the oldest are forgotten (and verified again when seen). */
  entriesMax?: number;
  now?: () => number;
}

/**
 * Remembers tokens that verified, until they expire: a client sends the same
 * token for up to 15 minutes, and checking its Ed25519 signature on every
 * request is a service's largest CPU cost per request. The whole token is the
 * key, so a changed byte is another key and a tampered token is never served
 * from here; failures are not cached.
 */
export function createCachingAccessTokenVerifier(
  verifier: AccessTokenVerifier,
  options: CachingVerifierOptions = {},
): AccessTokenVerifier {
  const entriesMax = options.entriesMax ?? 50_000;
  const now = options.now ?? Date.now;
  const verified = new Map<string, AccessTokenClaims>();
  return {
    async verify(token) {
      const cached = verified.get(token);
      if (cached !== undefined && cached.expiresAt.getTime() > now()) return cached;
      if (cached !== undefined) verified.delete(token);
      const claims = await verifier.verify(token);
      if (verified.size >= entriesMax) {
        // Map iteration is insertion order: drop the oldest entry.
        const oldest = verified.keys().next().value;
        if (oldest !== undefined) verified.delete(oldest);
      }
      verified.set(token, claims);
      return claims;
    },
  };
}

function isKeySetUnavailable(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWKSTimeout ||
    (error instanceof Error && error.name === 'TypeError' && /fetch/i.test(error.message)) ||
    // Any answer but 200 (a draining or failing instance), or one cut short.
    (error instanceof joseErrors.JOSEError &&
      error.code === 'ERR_JOSE_GENERIC' &&
      /JSON Web Key Set HTTP response/.test(error.message))
  );
}

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
  return match?.[1];
}
