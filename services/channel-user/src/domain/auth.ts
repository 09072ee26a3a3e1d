import { type Identity, parseIdentity } from '@nuri/contracts/identity';
import { AppError } from '@nuri/platform/errors';
import { hashRefreshToken, newRefreshToken } from '../auth/access-tokens.ts';
import { hashPassword, verifyPassword } from '../auth/passwords.ts';
import type { OneAtATime } from './one-at-a-time.ts';

/** API.md: 423 LOGIN_LOCKED after 5 consecutive failures, for 15 minutes. */
export const loginFailuresMax = 5;
export const loginLockMs = 15 * 60_000;
export const passwordLengthMin = 10;
export const passwordLengthMax = 128;

export interface RegisteredUser {
  userUuid: string;
  maskedName: string;
  maskedRrn: string;
  maskedPhone: string | null;
}

/** core-user's registry: registers a person (idempotent per RRN) and returns masked values only. */
export interface UserRegistry {
  register(identity: Identity, requestId: string): Promise<RegisteredUser>;
}

export interface Profile extends RegisteredUser {
  loginId: string;
}

export type AttemptReservation =
  | { kind: 'reserved'; userUuid: string; passwordHash: string }
  | { kind: 'locked' }
  | { kind: 'unknown' };

export interface LoginStore {
  hasLogin(userUuid: string): Promise<boolean>;
  /** Inserts the login; the unique constraints decide races between two signups. */
  insertLogin(
    login: Profile & { passwordHash: string },
  ): Promise<'created' | 'userHasLogin' | 'loginIdTaken'>;
  findProfile(userUuid: string): Promise<Profile | undefined>;
  /**
   * Counts an attempt before the password is checked, in one statement, so
   * that however many guesses race, at most `failuresMax` are verified
   * before the lock: reaching `failuresMax` sets the lock, success clears it.
   */
  reserveAttempt(loginId: string, failuresMax: number, lockMs: number): Promise<AttemptReservation>;
  clearFailures(userUuid: string): Promise<void>;
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
  /** Revokes the family of `tokenHash` when it belongs to `userUuid`; no-op otherwise. */
  revokeFamily(tokenHash: Buffer, userUuid: string): Promise<void>;
}

export interface TokenIssuer {
  issue(userUuid: string): Promise<{ token: string; expiresInSeconds: number }>;
}

export interface AuthDeps {
  registry: UserRegistry;
  logins: LoginStore;
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

/** API.md: 10–128 characters with a letter and a digit. Counted in code points. */
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

export async function signUp(deps: AuthDeps, input: SignupInput, requestId: string): Promise<Profile> {
  checkPassword(input.password);
  const identity = parseIdentity(input);
  // The detail names the field and its rule; the value is PII and never echoed.
  if (!identity.ok)
    throw new AppError('VALIDATION_FAILED', 400, `body/${identity.field} ${identity.problem}`);
  const user = await deps.registry.register(identity.value, requestId);
  if (await deps.logins.hasLogin(user.userUuid)) throw alreadyRegistered();
  const passwordHash = await hashPassword(input.password);
  const profile = { ...user, loginId: input.loginId };
  const outcome = await deps.logins.insertLogin({ ...profile, passwordHash });
  if (outcome === 'userHasLogin') throw alreadyRegistered();
  if (outcome === 'loginIdTaken') throw new AppError('LOGIN_ID_TAKEN', 409, 'This loginId is taken');
  return profile;
}

function alreadyRegistered(): AppError {
  return new AppError('ALREADY_REGISTERED', 409, 'This person already has a login');
}

/**
 * One attempt per loginId at a time in this process: the reservation counts an
 * attempt before its password is checked (so racing guesses cannot exceed the
 * limit), and only the outcome clears or keeps it. Run concurrently, five
 * correct logins of one person would all be counted and lock it; in turn,
 * each success clears the count before the next attempt reserves. (Across
 * several channel-user processes, ≥ 5 attempts of one login in flight at
 * the same instant still count as failures until they settle.)
 */
export function logIn(deps: AuthDeps, loginId: string, password: string): Promise<TokenPair> {
  return deps.loginAttempts.run(loginId, () => attemptLogin(deps, loginId, password));
}

async function attemptLogin(deps: AuthDeps, loginId: string, password: string): Promise<TokenPair> {
  const reservation = await deps.logins.reserveAttempt(loginId, loginFailuresMax, loginLockMs);
  if (reservation.kind === 'locked') {
    throw new AppError('LOGIN_LOCKED', 423, 'Too many failed logins; try again later');
  }
  const storedHash = reservation.kind === 'reserved' ? reservation.passwordHash : undefined;
  const valid = await verifyPassword(storedHash, password);
  if (reservation.kind !== 'reserved' || !valid) throw invalidCredentials();
  await deps.logins.clearFailures(reservation.userUuid);
  return issuePair(deps, reservation.userUuid, deps.newFamilyId());
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
