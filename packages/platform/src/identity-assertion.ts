import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AccessTokenClaims, AccessTokenVerifier } from './access-token.ts';
import { AppError } from './errors.ts';
import { isUuidv7 } from './ids.ts';

/**
 * The gateway's word that it verified the request's access token
 * (docs/architecture.md "Identity behind the gateway"): the token's subject
 * and expiry, MACed together with the token itself under a key derived from
 * the gateway's internal token, which only the gateway and the channel
 * services it forwards to hold. A channel service that can check it skips
 * its own Ed25519 verification of a token the gateway already verified; one
 * that cannot (no gateway token configured, or a request straight at it)
 * verifies the token itself, as before.
 */
export const identityAssertionHeader = 'x-nuri-identity';

const version = 'v1';
/** As the token's own check (access-token.ts): a token within this much of its expiry still passes. */
const clockToleranceMs = 5_000;

/** Who the gateway vouches for: the subject of the token it verified, until the token expires. */
export interface VouchedUser {
  userUuid: string;
  expiresAt: Date;
}

/** Assertions a service remembers having checked; beyond this the oldest are forgotten (and checked again). */
export const checkedAssertionsMax = 50_000;

// A key of its own, not the token itself: the internal token keeps its one
// use (a bearer credential) and no MAC is ever computed under it. Made a
// KeyObject once: an HMAC under a raw Buffer key imports the key on every
// call, three times the cost of the MAC itself.
function assertionKey(gatewayToken: string): KeyObject {
  return createSecretKey(createHmac('sha256', gatewayToken).update('nuri identity assertion v1').digest());
}

function mac(key: KeyObject, userUuid: string, expiresAtMs: string, token: string): Buffer {
  return createHmac('sha256', key).update(`${version}.${userUuid}.${expiresAtMs}.${token}`).digest();
}

/**
 * The gateway's side: the header value vouching that `token` verified with
 * these claims. Made once per claims object: the gateway's token cache hands
 * back the same claims for a token every time, so a token seen before costs
 * a lookup, not a MAC.
 */
export function createIdentityAsserter(
  gatewayToken: string,
): (token: string, claims: AccessTokenClaims) => string {
  const key = assertionKey(gatewayToken);
  const made = new WeakMap<AccessTokenClaims, { token: string; assertion: string }>();
  return (token, claims) => {
    const known = made.get(claims);
    if (known !== undefined && known.token === token) return known.assertion;
    const expiresAtMs = String(claims.expiresAt.getTime());
    const tag = mac(key, claims.userUuid, expiresAtMs, token).toString('base64url');
    const assertion = `${version}.${claims.userUuid}.${expiresAtMs}.${tag}`;
    made.set(claims, { token, assertion });
    return assertion;
  };
}

/**
 * A service's side: the user the gateway vouched for with this very token,
 * or undefined when the assertion does not check out (wrong key, another
 * token, altered, expired, malformed). An assertion that checked out is
 * remembered with its token until it expires, so a token sent many times is
 * checked by a lookup and a string comparison; failures are not remembered.
 */
export function createIdentityAssertionCheck(
  gatewayToken: string,
  now: () => number = Date.now,
  rememberedMax = checkedAssertionsMax,
): (assertion: string, token: string) => VouchedUser | undefined {
  const key = assertionKey(gatewayToken);
  const checked = new Map<string, { token: string; user: VouchedUser }>();
  const stillValid = (user: VouchedUser) => user.expiresAt.getTime() + clockToleranceMs > now();
  return (assertion, token) => {
    const known = checked.get(assertion);
    if (known !== undefined && known.token === token) {
      if (stillValid(known.user)) return known.user;
      checked.delete(assertion);
      return undefined;
    }
    const user = checkAnew(assertion, token);
    if (user === undefined) return undefined;
    // Map iteration is insertion order: drop the oldest entry.
    if (checked.size >= rememberedMax) checked.delete(checked.keys().next().value!);
    checked.set(assertion, { token, user });
    return user;
  };

  function checkAnew(assertion: string, token: string): VouchedUser | undefined {
    const parts = assertion.split('.');
    if (parts.length !== 4 || parts[0] !== version) return undefined;
    const [, userUuid, expiresAtMs, tag] = parts as [string, string, string, string];
    if (!isUuidv7(userUuid) || !/^\d{1,15}$/.test(expiresAtMs)) return undefined;
    const given = Buffer.from(tag, 'base64url');
    const expected = mac(key, userUuid, expiresAtMs, token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const user = { userUuid, expiresAt: new Date(Number(expiresAtMs)) };
    return stillValid(user) ? user : undefined;
  }
}

export type IdentityAssertionCheck = ReturnType<typeof createIdentityAssertionCheck>;

/** The user of a request's access token: vouched for by the gateway, or else verified here. */
export type RequestUserVerifier = (token: string, headers: IncomingHttpHeaders) => Promise<VouchedUser>;

/**
 * Verifies a request's bearer token, taking the gateway's assertion for it
 * when `check` is given and the request carries one. An assertion that does
 * not check out is refused (401), never passed over for the token's own
 * check: only a forger sends one. Without `check` the header is ignored and
 * the token verified, so a service that does not hold the gateway's token
 * loses nothing but the saving.
 */
export function createRequestUserVerifier(
  verifier: AccessTokenVerifier,
  check: IdentityAssertionCheck | undefined,
): RequestUserVerifier {
  return async (token, headers) => {
    const assertion = check === undefined ? undefined : headers[identityAssertionHeader];
    if (assertion === undefined) return verifier.verify(token);
    const vouched = typeof assertion === 'string' ? check?.(assertion, token) : undefined;
    if (vouched === undefined) {
      throw new AppError('UNAUTHENTICATED', 401, 'The access token is missing, invalid or expired');
    }
    return vouched;
  };
}

/** The gateway's internal token, from a service's NURI_INTERNAL_CALLERS, as the key of its assertions. */
export function gatewayAssertionCheck(
  internalCallers: Readonly<Record<string, string>>,
): IdentityAssertionCheck | undefined {
  const token = internalCallers.gateway;
  return token === undefined ? undefined : createIdentityAssertionCheck(token);
}
