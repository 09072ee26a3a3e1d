import assert from 'node:assert/strict';
import type { Identity } from '@nuri/contracts/identity';
import { AppError } from '@nuri/platform/errors';
import { uuidv7 } from '@nuri/platform/ids';
import { maskName, maskPhone, maskRrn } from '@nuri/platform/masking';
import type { RrnBlindIndexer } from '../crypto/blind-index.ts';
import type { PiiCipher } from '../crypto/pii-cipher.ts';

/** A user as stored: PII only as ciphertext envelopes, the RRN also as a blind index. */
export type StoredUser = {
  userUuid: string;
  rrnBlindIndex: Buffer;
  nameCiphertext: Buffer;
  rrnCiphertext: Buffer;
  phoneCiphertext: Buffer | null;
  piiKeyId: string;
};

export interface UserRepository {
  /** Inserts unless a user with the same RRN blind index exists (or is being inserted); true when inserted. */
  insertUnlessRrnRegistered(user: StoredUser): Promise<boolean>;
  findByRrnBlindIndex(rrnBlindIndex: Buffer): Promise<StoredUser | undefined>;
  findByUserUuid(userUuid: string): Promise<StoredUser | undefined>;
  /** Users whose ciphertexts are under another key than `keyId`, in userUuid order after `afterUserUuid`. */
  listNotUnderKey(keyId: string, afterUserUuid: string | null, limit: number): Promise<StoredUser[]>;
  /** Replaces the ciphertexts if the row still holds `previous`'s; true when replaced. */
  replaceCiphertexts(previous: StoredUser, next: StoredUser): Promise<boolean>;
}

/** What leaves core-user: the userUuid and masked values (API.md, masking). */
export type MaskedUser = {
  userUuid: string;
  maskedName: string;
  maskedRrn: string;
  maskedPhone: string | null;
};

export type Registration = { outcome: 'created' | 'existing'; user: MaskedUser };

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
};

export type UserService = ReturnType<typeof createUserService>;

export function createUserService({ repository, cipher, rrnBlindIndex }: UserServiceDeps) {
  function seal(userUuid: string, identity: Identity, rrnIndex: Buffer): StoredUser {
    return {
      userUuid,
      rrnBlindIndex: rrnIndex,
      nameCiphertext: cipher.encrypt(userUuid, 'name', identity.name),
      rrnCiphertext: cipher.encrypt(userUuid, 'rrn', identity.rrn),
      phoneCiphertext: identity.phone === null ? null : cipher.encrypt(userUuid, 'phone', identity.phone),
      piiKeyId: cipher.activeKeyId,
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
     * Real-name registration of a parsed identity. The same person (RRN) with
     * the same name gets their existing userUuid back; with another name it is
     * a conflict. The unique blind index, not a prior read, decides who wins
     * a race, so concurrent registrations of one person yield one userUuid.
     */
    async registerUser(identity: Identity): Promise<Registration> {
      const rrnIndex = rrnBlindIndex(identity.rrn);
      const candidate = seal(uuidv7(), identity, rrnIndex);
      if (await repository.insertUnlessRrnRegistered(candidate)) {
        return { outcome: 'created', user: mask(candidate.userUuid, identity) };
      }
      const existing = await repository.findByRrnBlindIndex(rrnIndex);
      // Users are never deleted, so the row that blocked the insert is still there.
      assert.ok(existing !== undefined, 'a conflicting RRN blind index must belong to a stored user');
      const stored = open(existing);
      // Both names are canonical (NFC, trimmed), so equality is the comparison.
      if (stored.name !== identity.name) {
        throw new AppError(
          'REAL_NAME_MISMATCH',
          409,
          'This resident registration number is registered under another name',
        );
      }
      return { outcome: 'existing', user: mask(existing.userUuid, stored) };
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
          const next = seal(user.userUuid, open(user), user.rrnBlindIndex);
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
