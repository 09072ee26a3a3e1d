import assert from 'node:assert/strict';
import type { Identity } from '@nuri/contracts/identity';
import { AppError } from '@nuri/platform/errors';
import { uuidv7 } from '@nuri/platform/ids';
import { maskName, maskPhone, maskRrn } from '@nuri/platform/masking';
import type { RrnBlindIndexer } from '../crypto/blind-index.ts';
import type { PiiCipher } from '../crypto/pii-cipher.ts';
import type { RealNameVerifier, VerificationLevel } from './real-name.ts';

/** A user as stored: PII only as ciphertext envelopes, the RRN also as a blind index. */
export type StoredUser = {
  userUuid: string;
  rrnBlindIndex: Buffer;
  nameCiphertext: Buffer;
  rrnCiphertext: Buffer;
  phoneCiphertext: Buffer | null;
  piiKeyId: string;
  /** RESERVED until channel-user confirms the login exists (the RRN is then this person's for good). */
  status: 'RESERVED' | 'CONFIRMED';
  reservedUntil: Date | null;
  verification: VerificationLevel;
};

export interface UserRepository {
  /** Inserts unless a user with the same RRN blind index exists (or is being inserted); true when inserted. */
  insertUnlessRrnRegistered(user: StoredUser): Promise<boolean>;
  /**
   * Replaces a reservation that is not this person's or has expired (by the
   * decision of the caller, who read it): deletes it if it is still RESERVED
   * and still `previous`, then inserts `next`; false when it changed meanwhile.
   */
  replaceReservation(previous: StoredUser, next: StoredUser): Promise<boolean>;
  /** Extends a reservation of the same person; false when it is no longer RESERVED. */
  renewReservation(userUuid: string, reservedUntil: Date): Promise<boolean>;
  /** RESERVED → CONFIRMED (idempotent); false when no such user exists. */
  confirm(userUuid: string): Promise<boolean>;
  /** Deletes a reservation (a signup that failed after the registry); confirmed users are never deleted. */
  release(userUuid: string): Promise<void>;
  /** Counts one registration attempt of this blind index in the hour from `windowStart`; returns the hour's count. */
  countAttempt(rrnBlindIndex: Buffer, windowStart: Date): Promise<number>;
  /** Deletes reservations that expired before `before`, and attempt counts older than it. */
  purgeExpired(before: Date): Promise<number>;
  findByRrnBlindIndex(rrnBlindIndex: Buffer): Promise<StoredUser | undefined>;
  findByUserUuid(userUuid: string): Promise<StoredUser | undefined>;
  /** Users whose ciphertexts are under another key than `keyId`, in userUuid order after `afterUserUuid`. */
  listNotUnderKey(keyId: string, afterUserUuid: string | null, limit: number): Promise<StoredUser[]>;
  /** Replaces the ciphertexts if the row still holds `previous`'s; true when replaced. */
  replaceCiphertexts(previous: StoredUser, next: StoredUser): Promise<boolean>;
}

/** What leaves core-user: the userUuid and masked values (docs/api.md, masking). */
export type MaskedUser = {
  userUuid: string;
  maskedName: string;
  maskedRrn: string;
  maskedPhone: string | null;
};

export type Registration = {
  outcome: 'created' | 'existing';
  /** RESERVED: channel-user confirms once the login exists, or the reservation expires. */
  status: 'RESERVED' | 'CONFIRMED';
  user: MaskedUser;
};

export type ReencryptionResult = {
  /** Rows rewritten under the active key by this run. */
  moved: number;
  /** Rows that changed underneath this run (e.g. moved by a concurrent run) and were left alone. */
  skipped: number;
};

export type UserServiceDeps = {
  repository: UserRepository;
  cipher: PiiCipher;
  rrnBlindIndex: RrnBlindIndexer;
  realNames: RealNameVerifier;
  /** Registration attempts per RRN (whatever the name) per hour; beyond: 429 RATE_LIMITED. */
  attemptsPerHourMax?: number;
  /** How long a reservation waits for its confirmation. */
  reservationMs?: number;
  now?: () => Date;
};

const hourMs = 3_600_000;

function realNameMismatch(): AppError {
  return new AppError(
    'REAL_NAME_MISMATCH',
    409,
    'This resident registration number is registered under another name',
  );
}

export type UserService = ReturnType<typeof createUserService>;

export function createUserService(deps: UserServiceDeps) {
  const { repository, cipher, rrnBlindIndex, realNames } = deps;
  const attemptsPerHourMax = deps.attemptsPerHourMax ?? 10;
  const reservationMs = deps.reservationMs ?? 30 * 60_000;
  const now = deps.now ?? (() => new Date());

  function seal(
    userUuid: string,
    identity: Identity,
    rrnIndex: Buffer,
    state: Pick<StoredUser, 'status' | 'reservedUntil' | 'verification'>,
  ): StoredUser {
    return {
      userUuid,
      rrnBlindIndex: rrnIndex,
      nameCiphertext: cipher.encrypt(userUuid, 'name', identity.name),
      rrnCiphertext: cipher.encrypt(userUuid, 'rrn', identity.rrn),
      phoneCiphertext: identity.phone === null ? null : cipher.encrypt(userUuid, 'phone', identity.phone),
      piiKeyId: cipher.activeKeyId,
      ...state,
    };
  }

  function open(user: StoredUser): Identity {
    return {
      name: cipher.decrypt(user.userUuid, 'name', user.nameCiphertext),
      rrn: cipher.decrypt(user.userUuid, 'rrn', user.rrnCiphertext),
      phone:
        user.phoneCiphertext === null ? null : cipher.decrypt(user.userUuid, 'phone', user.phoneCiphertext),
    };
  }

  return {
    /**
     * Real-name registration of a parsed identity, reserved until its login
     * exists (`confirm`). The same person (RRN) with the same name gets their
     * userUuid back; another name against a CONFIRMED registration is a
     * conflict; a RESERVED one that is not this person's or has expired is
     * replaced, since an unconfirmed reservation proves nothing. Attempts per
     * RRN are limited, so a legal name cannot be guessed by trying names. The
     * unique blind index, not a prior read, decides races.
     */
    async registerUser(identity: Identity): Promise<Registration> {
      const at = now();
      const rrnIndex = rrnBlindIndex(identity.rrn);
      const attempts = await repository.countAttempt(
        rrnIndex,
        new Date(Math.floor(at.getTime() / hourMs) * hourMs),
      );
      if (attempts > attemptsPerHourMax) {
        throw new AppError(
          'RATE_LIMITED',
          429,
          'Too many registration attempts for this person; try again later',
        );
      }
      const verification = await realNames.verify(identity);
      if (verification.outcome === 'MISMATCH') throw realNameMismatch();
      const reservedUntil = new Date(at.getTime() + reservationMs);
      const reservation = () =>
        seal(uuidv7(), identity, rrnIndex, {
          status: 'RESERVED',
          reservedUntil,
          verification: verification.level,
        });
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const candidate = reservation();
        if (await repository.insertUnlessRrnRegistered(candidate)) {
          return { outcome: 'created', status: 'RESERVED', user: mask(candidate.userUuid, identity) };
        }
        const existing = await repository.findByRrnBlindIndex(rrnIndex);
        if (existing === undefined) continue; // a reservation released meanwhile
        const stored = open(existing);
        // Both names are canonical (NFC, trimmed), so equality is the comparison.
        const samePerson = stored.name === identity.name;
        if (existing.status === 'CONFIRMED') {
          if (!samePerson) throw realNameMismatch();
          return { outcome: 'existing', status: 'CONFIRMED', user: mask(existing.userUuid, stored) };
        }
        const expired = existing.reservedUntil !== null && existing.reservedUntil <= at;
        if (samePerson && !expired && (await repository.renewReservation(existing.userUuid, reservedUntil))) {
          return { outcome: 'existing', status: 'RESERVED', user: mask(existing.userUuid, stored) };
        }
        if (await repository.replaceReservation(existing, candidate)) {
          return { outcome: 'created', status: 'RESERVED', user: mask(candidate.userUuid, identity) };
        }
      }
      throw new AppError('SERVICE_UNAVAILABLE', 503, 'The registration changed under this request; retry it');
    },

    /** channel-user created the login: the registration is this person's for good. */
    async confirmUser(userUuid: string): Promise<void> {
      if (!(await repository.confirm(userUuid)))
        throw new AppError('USER_NOT_FOUND', 404, 'No user has this userUuid');
    },

    /** The signup failed after the registry: its reservation goes (a confirmed user stays). */
    async releaseReservation(userUuid: string): Promise<void> {
      await repository.release(userUuid);
    },

    /** Expired reservations a day old (a confirmation would have come long before) and old attempt counts. */
    purgeExpired(): Promise<number> {
      return repository.purgeExpired(new Date(now().getTime() - 24 * hourMs));
    },

    async getUser(userUuid: string): Promise<MaskedUser> {
      const user = await repository.findByUserUuid(userUuid);
      if (user === undefined) throw new AppError('USER_NOT_FOUND', 404, 'No user has this userUuid');
      return mask(user.userUuid, open(user));
    },

    /**
     * Moves every user still under an older key to the active key, `batchSizeMax`
     * rows per read, one short statement per row. Walks forward by userUuid so
     * it ends even when rows keep failing their optimistic check. A row that
     * does not decrypt stops the run: its key is missing or it was tampered
     * with, and an operator must look.
     */
    async reencryptToActiveKey(batchSizeMax: number): Promise<ReencryptionResult> {
      assert.ok(
        Number.isInteger(batchSizeMax) && batchSizeMax >= 1,
        'batchSizeMax must be a positive integer',
      );
      const result: ReencryptionResult = { moved: 0, skipped: 0 };
      let afterUserUuid: string | null = null;
      for (;;) {
        const batch = await repository.listNotUnderKey(cipher.activeKeyId, afterUserUuid, batchSizeMax);
        for (const user of batch) {
          const next = seal(user.userUuid, open(user), user.rrnBlindIndex, {
            status: user.status,
            reservedUntil: user.reservedUntil,
            verification: user.verification,
          });
          if (await repository.replaceCiphertexts(user, next)) result.moved += 1;
          else result.skipped += 1;
        }
        if (batch.length < batchSizeMax) return result;
        afterUserUuid = batch.at(-1)!.userUuid;
      }
    },
  };
}

function mask(userUuid: string, identity: Identity): MaskedUser {
  return {
    userUuid,
    maskedName: maskName(identity.name),
    maskedRrn: maskRrn(identity.rrn),
    maskedPhone: identity.phone === null ? null : maskPhone(identity.phone),
  };
}
