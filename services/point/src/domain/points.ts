import { AppError } from '@nuri/platform/errors';

/** docs/api.md: one charge moves 1 to 1,000,000 points. */
export const chargeAmountMin = 1n;
export const chargeAmountMax = 1_000_000n;
/** docs/api.md: pagination `?limit` is 1–100, 20 by default. */
export const historyPageSizeMax = 100;
export const historyPageSizeDefault = 20;

export type PointEntryType = 'CHARGE' | 'USE' | 'REFUND';

export interface PointHistoryItem {
  id: string;
  /** The order the row was written in, per wallet (internal: cursors carry it). */
  seq: bigint;
  type: PointEntryType;
  amount: bigint;
  balanceAfter: bigint;
  paymentId: string | null;
  createdAt: Date;
}

export interface WalletStore {
  /** 0n when the user never had a wallet. */
  balanceOf(userUuid: string): Promise<bigint>;
  /** Adds `amount` and writes the CHARGE row in one transaction; undefined when the balance cap would be passed. */
  /** Applies the charge `chargeId` once; a repeat returns the balance without charging again. */
  charge(userUuid: string, amount: bigint, chargeId: string): Promise<bigint | undefined>;
  /** Newest first (the order written): entries before `before` (all when undefined), at most `limit`. */
  history(userUuid: string, limit: number, before: HistoryPosition | undefined): Promise<PointHistoryItem[]>;
}

/**
 * Where a page starts: below a row's write order, or (a cursor issued before
 * history was ordered that way) below the row with that id.
 */
export type HistoryPosition = { seq: bigint } | { id: string };

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function getBalance(wallets: WalletStore, userUuid: string): Promise<bigint> {
  return wallets.balanceOf(userUuid);
}

export async function chargePoints(
  wallets: WalletStore,
  userUuid: string,
  amount: bigint,
  chargeId: string,
): Promise<bigint> {
  const balance = await wallets.charge(userUuid, amount, chargeId);
  if (balance === undefined) {
    throw new AppError('POINT_BALANCE_LIMIT_EXCEEDED', 409, 'The point balance would exceed its limit');
  }
  return balance;
}

export async function listHistory(
  wallets: WalletStore,
  userUuid: string,
  limit: number,
  cursor: string | undefined,
): Promise<Page<PointHistoryItem>> {
  const before = cursor === undefined ? undefined : decodeCursor(cursor);
  // One extra row tells whether another page exists without a count query.
  const rows = await wallets.history(userUuid, limit + 1, before);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.seq) : null };
}

const cursorIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** A BIGINT UNSIGNED, 1 to 20 digits, no leading zero. */
const cursorSeqPattern = /^[1-9][0-9]{0,19}$/;

// Opaque to clients (docs/api.md) so the ordering key may change without breaking them.
export function encodeCursor(seq: bigint): string {
  return Buffer.from(JSON.stringify({ seq: seq.toString() }), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): HistoryPosition {
  try {
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      seq?: unknown;
      before?: unknown;
    };
    if (typeof decoded.seq === 'string' && cursorSeqPattern.test(decoded.seq)) {
      const seq = BigInt(decoded.seq);
      if (seq < 2n ** 64n) return { seq };
    }
    // A cursor issued before history was ordered as written (migration 0007).
    if (typeof decoded.before === 'string' && cursorIdPattern.test(decoded.before))
      return { id: decoded.before };
  } catch {
    // Falls through to the client error below.
  }
  throw new AppError('VALIDATION_FAILED', 400, 'querystring/cursor is not a cursor this API issued');
}
