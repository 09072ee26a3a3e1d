import { type Identity, parseIdentity } from '@nuri/contracts/identity';
import { AppError } from '@nuri/platform/errors';
import { hashRefreshToken, newRefreshToken } from '../auth/access-tokens.ts';
import type { PasswordHasher } from '../auth/passwords.ts';
import type { OneAtATime } from './one-at-a-time.ts';

/** docs/api.md: 423 LOGIN_LOCKED after 5 consecutive failures, for 15 minutes — counted per (loginId, client). */
export const loginFailuresMax = 5;
export const loginLockMs = 15 * 60_000;
/**
 * Across every client, a loginId may be tried this often per window; past it,
 * one attempt per `loginSpacingMs` (429 RATE_LIMITED with Retry-After): slow
 * enough to stop a distributed guesser, never a lock on the owner.
 */
export const loginAttemptsAcrossClientsMax = 20;
export const loginAttemptsWindowMs = 15 * 60_000;
export const loginSpacingMs = 30_000;
/** What a loginId is (docs/api.md, signup): 4–20 of a–z 0–9 _. */
export const loginIdPattern = /^[a-z0-9_]{4,20}$/;
export const passwordLengthMin = 10;
export const passwordLengthMax = 128;

export interface RegisteredUser {
  userUuid: string;
  maskedName: string;
  maskedRrn: string;
  maskedPhone: string | null;
}

/**
 * core-user's registry: reserves a person's registration (idempotent per RRN,
 * masked values only), which stays RESERVED until `confirm` (the login exists)
 * or expires; `release` gives it up when the signup fails after it.
 */
export interface UserRegistry {
  register(
    identity: Identity,
    requestId: string,
  ): Promise<RegisteredUser & { status: 'RESERVED' | 'CONFIRMED' }>;
  confirm(userUuid: string, requestId: string): Promise<void>;
  release(userUuid: string, requestId: string): Promise<void>;
  /** The registry's masked name of a registered person; undefined when there is none. */
  maskedNameOf(userUuid: string, requestId: string): Promise<string | undefined>;
}

export interface Profile extends RegisteredUser {
  loginId: string;
}

export type AttemptReservation =
  | { kind: 'allowed' }
  /** This client failed `failuresMax` times in a row: 423 until the lock ends. */
  | { kind: 'locked' }
  /** Every client together tried this loginId too often: one attempt per spacing. */
  | { kind: 'throttled'; retryAfterSeconds: number };

export interface LoginPolicy {
  failuresMax: number;
  lockMs: number;
  acrossClientsMax: number;
  windowMs: number;
  spacingMs: number;
}

export const loginPolicy: LoginPolicy = {
  failuresMax: loginFailuresMax,
  lockMs: loginLockMs,
  acrossClientsMax: loginAttemptsAcrossClientsMax,
  windowMs: loginAttemptsWindowMs,
  spacingMs: loginSpacingMs,
};

export interface LoginStore {
  hasLogin(userUuid: string): Promise<boolean>;
  loginIdTaken(loginId: string): Promise<boolean>;
  /** Inserts the login, unconfirmed; the unique constraints decide races between two signups. */
  insertLogin(
    login: Profile & { passwordHash: string },
  ): Promise<'created' | 'userHasLogin' | 'loginIdTaken'>;
  markRegistryConfirmed(userUuid: string): Promise<void>;
  /** Removes a login whose registration could not be confirmed (the signup answers 503). */
  deleteUnconfirmedLogin(userUuid: string): Promise<void>;
  /** Logins left unconfirmed (a crash between insert and confirmation), oldest first. */
  unconfirmedLogins(createdBefore: Date, limit: number): Promise<string[]>;
  findProfile(userUuid: string): Promise<Profile | undefined>;
  /** The masked names of those of `userUuids` who have a login here. */
  maskedNamesOf(userUuids: readonly string[]): Promise<Map<string, string>>;
  findCredentials(loginId: string): Promise<{ userUuid: string; passwordHash: string } | undefined>;
  /**
   * Counts an attempt before the password is checked, in one statement per
   * counter, so that however many guesses race, at most `failuresMax` from a
   * client are verified before its lock; success clears that client's count.
   * Known and unknown loginIds are counted alike.
   */
  reserveAttempt(loginId: string, client: string, policy: LoginPolicy): Promise<AttemptReservation>;
  clearFailures(loginId: string, client: string): Promise<void>;
}

export type RotationResult =
  | { kind: 'rotated'; userUuid: string }
  /** The token had been used already: its family is revoked now. */
  | { kind: 'reused' }
  | { kind: 'invalid' };

export interface RefreshTokenStore {
  insert(token: { tokenHash: Buffer; familyId: string; userUuid: string; expiresAt: Date }): Promise<void>;
  /** Marks `oldHash` used and stores `newHash` in its family, atomically. */
  rotate(oldHash: Buffer, newHash: Buffer, expiresAt: Date): Promise<RotationResult>;
  /**
   * Revokes the family of `tokenHash` when it belongs to `userUuid` (any
   * user's when undefined: the token itself is the credential); no-op otherwise.
   */
  revokeFamily(tokenHash: Buffer, userUuid: string | undefined): Promise<void>;
}

export interface TokenIssuer {
  issue(userUuid: string): Promise<{ token: string; expiresInSeconds: number }>;
}

export interface AuthDeps {
  registry: UserRegistry;
  logins: LoginStore;
  passwords: PasswordHasher;
  refreshTokens: RefreshTokenStore;
  accessTokens: TokenIssuer;
  refreshTokenTtlSeconds: number;
  newFamilyId: () => string;
  /** Serialises this process's attempts per loginId (see logIn). */
  loginAttempts: OneAtATime;
}

export interface SignupInput {
  loginId: string;
  password: string;
  name: string;
  rrn: string;
  phone?: string | undefined;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

const letter = /\p{L}/u;
const digit = /\p{Nd}/u;

/** docs/api.md: 10–128 characters with a letter and a digit. Counted in code points. */
export function checkPassword(password: string): void {
  const length = Array.from(password).length;
  if (
    length < passwordLengthMin ||
    length > passwordLengthMax ||
    !letter.test(password) ||
    !digit.test(password)
  ) {
    throw new AppError(
      'VALIDATION_FAILED',
      400,
      `body/password must be ${passwordLengthMin}–${passwordLengthMax} characters with a letter and a digit`,
    );
  }
}

/**
 * Everything the channel owns is checked before the registry is asked (the
 * password, the identity's format, whether the loginId is free), so a signup
 * bound to fail costs the registry nothing and tells nothing about anyone's
 * name. The registry reserves the person; the login is written; only then is
 * the reservation confirmed. A signup that fails after the reservation gives
 * it back, and one whose confirmation fails removes its login: nothing is left
 * holding a person's RRN.
 */
export async function signUp(deps: AuthDeps, input: SignupInput, requestId: string): Promise<Profile> {
  checkPassword(input.password);
  const identity = parseIdentity(input);
  // The detail names the field and its rule; the value is PII and never echoed.
  if (!identity.ok)
    throw new AppError('VALIDATION_FAILED', 400, `body/${identity.field} ${identity.problem}`);
  if (await deps.logins.loginIdTaken(input.loginId)) throw loginIdTaken();
  const { status, ...user } = await deps.registry.register(identity.value, requestId);
  if (await deps.logins.hasLogin(user.userUuid)) throw alreadyRegistered();
  const passwordHash = await deps.passwords.hash(input.password);
  const profile = { ...user, loginId: input.loginId };
  const outcome = await deps.logins.insertLogin({ ...profile, passwordHash });
  if (outcome !== 'created') {
    // The reservation is given back only while no login holds this person: a
    // racing signup of the same person (another loginId, or a double submit of
    // the same one) that did write its login is about to confirm it, and a
    // release now would make that confirmation fail.
    if (status === 'RESERVED' && !(await deps.logins.hasLogin(user.userUuid))) {
      await deps.registry.release(user.userUuid, requestId).catch(() => undefined);
    }
    throw outcome === 'userHasLogin' ? alreadyRegistered() : loginIdTaken();
  }
  try {
    await deps.registry.confirm(user.userUuid, requestId);
  } catch (error) {
    await deps.logins.deleteUnconfirmedLogin(user.userUuid);
    throw error;
  }
  await deps.logins.markRegistryConfirmed(user.userUuid);
  return profile;
}

function alreadyRegistered(): AppError {
  return new AppError('ALREADY_REGISTERED', 409, 'This person already has a login');
}

function loginIdTaken(): AppError {
  return new AppError('LOGIN_ID_TAKEN', 409, 'This loginId is taken');
}

/**
 * One attempt per loginId at a time in this process: the reservation counts an
 * attempt before its password is checked (so racing guesses cannot exceed the
 * limit), and only the outcome clears or keeps it. Run concurrently, five
 * correct logins of one person would all be counted and lock it; in turn,
 * each success clears the count before the next attempt reserves. (Across
 * several channel-user processes, attempts of one login in flight at the same
 * instant still count until they settle.) `client` is who is asking (the
 * gateway's client address): a stranger's failures lock the stranger, not
 * the owner.
 */
export function logIn(deps: AuthDeps, loginId: string, password: string, client: string): Promise<TokenPair> {
  // No login has an id of another shape (signup's rule): nothing to count or check. Such an id
  // also does not fit the failures table (varchar(20)); a 21-character one was a 500 (fuzzing).
  if (!loginIdPattern.test(loginId)) return Promise.reject(invalidCredentials());
  return deps.loginAttempts.run(loginId, () => attemptLogin(deps, loginId, password, client));
}

async function attemptLogin(
  deps: AuthDeps,
  loginId: string,
  password: string,
  client: string,
): Promise<TokenPair> {
  const reservation = await deps.logins.reserveAttempt(loginId, client, loginPolicy);
  if (reservation.kind === 'locked') {
    throw new AppError('LOGIN_LOCKED', 423, 'Too many failed logins; try again later');
  }
  if (reservation.kind === 'throttled') {
    throw new AppError('RATE_LIMITED', 429, 'This loginId is being tried too often; slow down', {
      retryAfterSeconds: reservation.retryAfterSeconds,
    });
  }
  const credentials = await deps.logins.findCredentials(loginId);
  const valid = await deps.passwords.verify(credentials?.passwordHash, password);
  if (credentials === undefined || !valid) throw invalidCredentials();
  await deps.logins.clearFailures(loginId, client);
  return issuePair(deps, credentials.userUuid, deps.newFamilyId());
}

function invalidCredentials(): AppError {
  return new AppError('INVALID_CREDENTIALS', 401, 'The loginId or password is wrong');
}

function unauthenticated(): AppError {
  return new AppError('UNAUTHENTICATED', 401, 'The refresh token is invalid, expired or already used');
}

export async function refresh(deps: AuthDeps, refreshToken: string): Promise<TokenPair> {
  const next = newRefreshToken();
  const result = await deps.refreshTokens.rotate(
    hashRefreshToken(refreshToken),
    hashRefreshToken(next),
    refreshExpiry(deps),
  );
  if (result.kind !== 'rotated') throw unauthenticated();
  const access = await deps.accessTokens.issue(result.userUuid);
  return {
    accessToken: access.token,
    refreshToken: next,
    tokenType: 'Bearer',
    expiresIn: access.expiresInSeconds,
  };
}

export async function logOut(deps: AuthDeps, userUuid: string, refreshToken: string): Promise<void> {
  await deps.refreshTokens.revokeFamily(hashRefreshToken(refreshToken), userUuid);
}

/**
 * The web console's logout: the session cookie's refresh token is the
 * credential (it is what a refresh would present), so its family is revoked
 * whether or not an access token came with it.
 */
export async function logOutSession(deps: AuthDeps, refreshToken: string): Promise<void> {
  await deps.refreshTokens.revokeFamily(hashRefreshToken(refreshToken), undefined);
}

export async function getProfile(deps: AuthDeps, userUuid: string): Promise<Profile> {
  const profile = await deps.logins.findProfile(userUuid);
  // A valid token for a login that no longer exists: treat the token as dead.
  if (profile === undefined) throw new AppError('UNAUTHENTICATED', 401, 'The login no longer exists');
  return profile;
}

async function issuePair(deps: AuthDeps, userUuid: string, familyId: string): Promise<TokenPair> {
  const refreshToken = newRefreshToken();
  await deps.refreshTokens.insert({
    tokenHash: hashRefreshToken(refreshToken),
    familyId,
    userUuid,
    expiresAt: refreshExpiry(deps),
  });
  const access = await deps.accessTokens.issue(userUuid);
  return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresInSeconds };
}

function refreshExpiry(deps: AuthDeps): Date {
  return new Date(Date.now() + deps.refreshTokenTtlSeconds * 1_000);
}
