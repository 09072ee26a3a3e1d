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
  /** Newest first: entries with an id below `beforeId` (all when undefined), at most `limit`. */
  history(userUuid: string, limit: number, beforeId: string | undefined): Promise<PointHistoryItem[]>;
}

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
  const beforeId = cursor === undefined ? undefined : decodeCursor(cursor);
  // One extra row tells whether another page exists without a count query.
  const rows = await wallets.history(userUuid, limit + 1, beforeId);
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.id) : null };
}

const cursorIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// Opaque to clients (docs/api.md) so the ordering key may change without breaking them.
export function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ before: id }), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  try {
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { before?: unknown };
    if (typeof decoded.before === 'string' && cursorIdPattern.test(decoded.before)) return decoded.before;
  } catch {
    // Falls through to the client error below.
  }
  throw new AppError('VALIDATION_FAILED', 400, 'querystring/cursor is not a cursor this API issued');
}
