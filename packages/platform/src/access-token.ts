import { KeyObject, verify as verifySignature, type webcrypto } from 'node:crypto';
import { createRemoteJWKSet, type JWTVerifyGetKey, errors as joseErrors } from 'jose';
import { createBoundedMap } from './bounded-map.ts';
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

/** The longest token looked at: ours are about 400 characters; anything far longer is refused unread. */
export const accessTokenLengthMax = 4_096;

/**
 * No token of ours lives longer (channel-user's NURI_ACCESS_TOKEN_TTL_SECONDS
 * is at most an hour): an `exp` further ahead is refused, not cached for ever.
 */
const accessTokenLifetimeMaxSeconds = 24 * 3_600;

/** What a token's header may hold: what channel-user writes, nothing else (no `crit`, `jku`, `x5u`, `b64`…). */
const headerMembers = new Set(['alg', 'kid', 'typ']);
const segmentPattern = /^[A-Za-z0-9_-]+$/;
/** An Ed25519 signature is 64 bytes: 86 base64url characters without padding. */
const ed25519SignatureLength = 64;

/**
 * Verifies against a key resolver (jose's JWKS sets: a fetched one at the
 * gateway, point and coupon, channel-user's own keys there).
 *
 * The signature is checked with node:crypto's one-shot `verify` under a
 * KeyObject rather than jose's `jwtVerify`, which goes through WebCrypto: a
 * promise and a thread-pool job per token, about 55 µs more CPU per Ed25519
 * check here (README, Performance), on every new token at the gateway and
 * again at the service. What jose checked is checked here, stricter where a
 * token of ours never differs: three base64url segments, the signature's
 * in canonical form, a header of `alg` = EdDSA, a `kid` and at most `typ` =
 * JWT (anything else, `crit` included, is refused; channel-user's issuer
 * writes exactly that), an Ed25519 public key from the resolver, a 64-byte
 * signature, then the claims — issuer, audience, `exp` and `nbf` within the clock tolerance and
 * `exp` at most a day ahead, `iat` a number, `sub` a UUIDv7, `jti` a string.
 */
export function createAccessTokenVerifier(
  keys: JWTVerifyGetKey,
  clockToleranceSeconds = 5,
): AccessTokenVerifier {
  const keyObjects = new WeakMap<object, KeyObject>();
  const unauthenticated = () =>
    new AppError('UNAUTHENTICATED', 401, 'The access token is missing, invalid or expired');

  /** The resolver's key as a KeyObject (converted once per key: the sets hand back the same object). */
  function keyObjectOf(key: unknown): KeyObject {
    if (key instanceof KeyObject) return key;
    if (typeof key !== 'object' || key === null || key instanceof Uint8Array) throw unauthenticated();
    let converted = keyObjects.get(key);
    if (converted === undefined) {
      converted = KeyObject.from(key as webcrypto.CryptoKey);
      keyObjects.set(key, converted);
    }
    return converted;
  }

  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length > accessTokenLengthMax) throw unauthenticated();
      const segments = token.split('.');
      if (segments.length !== 3) throw unauthenticated();
      const [encodedHeader, encodedPayload, encodedSignature] = segments as [string, string, string];
      const header = decodeSegment(encodedHeader);
      if (
        header === undefined ||
        header.alg !== accessTokenAlgorithm ||
        typeof header.kid !== 'string' ||
        (header.typ !== undefined && header.typ !== 'JWT') ||
        Object.keys(header).some((member) => !headerMembers.has(member))
      ) {
        throw unauthenticated();
      }
      const signature = decodeSignature(encodedSignature);
      if (signature === undefined || signature.length !== ed25519SignatureLength) throw unauthenticated();
      let key: KeyObject;
      try {
        key = keyObjectOf(
          await keys(
            { alg: header.alg, kid: header.kid },
            { payload: encodedPayload, signature: encodedSignature, protected: encodedHeader },
          ),
        );
      } catch (error) {
        if (error instanceof AppError) throw error;
        if (isKeySetUnavailable(error)) {
          // Keys could not be fetched: an outage of channel-user, not a bad token.
          throw new AppError('AUTH_UNAVAILABLE', 503, 'Tokens cannot be verified right now; retry shortly');
        }
        throw unauthenticated();
      }
      if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') throw unauthenticated();
      const signed = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'latin1');
      if (!verifySignature(null, signed, key, signature)) throw unauthenticated();
      const claims = decodeSegment(encodedPayload);
      if (claims === undefined) throw unauthenticated();
      const nowSeconds = Date.now() / 1_000;
      const { sub, jti, exp, nbf, iat, iss, aud } = claims;
      if (
        iss !== accessTokenIssuer ||
        !(aud === accessTokenAudience || (Array.isArray(aud) && aud.includes(accessTokenAudience))) ||
        !isNumericDate(exp) ||
        exp <= nowSeconds - clockToleranceSeconds ||
        exp > nowSeconds + accessTokenLifetimeMaxSeconds ||
        !isNumericDate(iat) ||
        (nbf !== undefined && (!isNumericDate(nbf) || nbf > nowSeconds + clockToleranceSeconds)) ||
        typeof sub !== 'string' ||
        !isUuidv7(sub) ||
        typeof jti !== 'string' ||
        jti.length === 0
      ) {
        throw unauthenticated();
      }
      return { userUuid: sub, tokenId: jti, expiresAt: new Date(exp * 1_000) };
    },
  };
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** A segment's bytes, only if it holds base64url characters alone (Buffer's decoder would skip others). */
function decodeBase64url(segment: string): Buffer | undefined {
  return segmentPattern.test(segment) ? Buffer.from(segment, 'base64url') : undefined;
}

/**
 * The signature's bytes, only if spelt in canonical form: Buffer's decoder
 * ignores a last character's spare bits, so two spellings of one token would
 * both verify. (The header and claims need no such check: the signature
 * covers their text as sent, so another spelling is another signed input.)
 */
function decodeSignature(segment: string): Buffer | undefined {
  const bytes = decodeBase64url(segment);
  return bytes !== undefined && bytes.toString('base64url') === segment ? bytes : undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A segment holding a JSON object (the header, the claims), or undefined. */
function decodeSegment(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(segment);
  if (bytes === undefined) return undefined;
  try {
    // Fatal, as jose decoded: bytes that are not UTF-8 are refused, not replaced.
    const value: unknown = JSON.parse(utf8.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface CachingVerifierOptions {
  /** Distinct tokens remembered; beyond this the least recently used are forgotten (and verified again when seen). */
  entriesMax?: number;
  now?: () => number;
}

export interface CachingAccessTokenVerifier extends AccessTokenVerifier {
  /** The claims of a token that verified before and has not expired, without waiting; else undefined. */
  cachedClaims(token: string): AccessTokenClaims | undefined;
}

/**
 * Remembers tokens that verified, until they expire: a client sends the same
 * token for up to 15 minutes, and checking its Ed25519 signature on every
 * request is a service's largest CPU cost per request. The whole token is the
 * key, so a changed byte is another key and a tampered token is never served
 * from here; failures are not cached. Every service that checks tokens (the
 * gateway, channel-user, point, coupon) remembers them through this one.
 */
export function createCachingAccessTokenVerifier(
  verifier: AccessTokenVerifier,
  options: CachingVerifierOptions = {},
): CachingAccessTokenVerifier {
  const entriesMax = options.entriesMax ?? 50_000;
  const now = options.now ?? Date.now;
  const verified = createBoundedMap<string, AccessTokenClaims>(entriesMax);
  const cachedClaims = (token: string): AccessTokenClaims | undefined => {
    const cached = verified.get(token);
    if (cached === undefined) return undefined;
    if (cached.expiresAt.getTime() > now()) return cached;
    verified.delete(token);
    return undefined;
  };
  return {
    cachedClaims,
    async verify(token) {
      const cached = cachedClaims(token);
      if (cached !== undefined) return cached;
      const claims = await verifier.verify(token);
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
