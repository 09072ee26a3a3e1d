import { createBoundedMap } from '@nuri/platform/bounded-map';
import { AppError } from '@nuri/platform/errors';
import { createUpstream, unavailableStatus } from '@nuri/platform/upstream';
import type { AccountLinkAnswer, AccountLinks } from '../domain/payments.ts';

export interface AccountLinkClientOptions {
  /** channel-user's instances. */
  urls: readonly string[];
  internalToken: string;
  /** Per attempt; a read, so it is tried once more (on another instance when there is one). */
  timeoutMs: number;
  /** Confirmed links are remembered this long (0: never); refusals never are. */
  cacheTtlMs: number;
  cacheEntriesMax?: number;
  /** Keep-alive sockets per channel-user instance. */
  connectionsMax?: number;
  /** How often each instance's readiness is probed; 0: never. */
  probeIntervalMs?: number;
}

export interface AccountLinkClient extends AccountLinks {
  close(): Promise<void>;
}

function unavailable(): AppError {
  return new AppError(
    'ACCOUNT_CHECK_UNAVAILABLE',
    503,
    'Account ownership cannot be checked right now; nothing was charged, retry shortly',
  );
}

/**
 * Asks channel-user whether an account is linked to a user, over its
 * instances (platform upstream.ts). A positive answer may be cached briefly:
 * the core checks ownership again when it debits, so a stale "yes" ends as a
 * FAILED payment with the points refunded, never as money taken from someone
 * else.
 */
export function createAccountLinkClient(options: AccountLinkClientOptions): AccountLinkClient {
  const cacheEntriesMax = options.cacheEntriesMax ?? 10_000;
  const upstream = createUpstream({
    name: 'channel-user',
    urls: options.urls,
    connectionsMax: options.connectionsMax ?? 32,
    attemptTimeoutMs: options.timeoutMs,
    requestDeadlineMs: options.timeoutMs * 2,
    responseBytesMax: 65_536,
    probe: { intervalMs: options.probeIntervalMs ?? 1_000, timeoutMs: Math.min(options.timeoutMs, 1_000) },
  });
  const headers = { authorization: `Bearer ${options.internalToken}`, accept: 'application/json' };
  const confirmedUntil = createBoundedMap<string, number>(cacheEntriesMax);

  function remember(key: string): void {
    if (options.cacheTtlMs <= 0) return;
    confirmedUntil.set(key, Date.now() + options.cacheTtlMs);
  }

  async function ask(accountNo: string, userUuid: string): Promise<AccountLinkAnswer> {
    const query = new URLSearchParams({ userUuid });
    let answer: Awaited<ReturnType<typeof upstream.request>>;
    try {
      answer = await upstream.request({
        method: 'GET',
        path: `/internal/v1/account-links/${encodeURIComponent(accountNo)}?${query.toString()}`,
        headers,
        retriesMax: 1,
        isFailureStatus: unavailableStatus,
      });
    } catch {
      throw unavailable();
    }
    if (answer.status === 404) return 'notLinked';
    if (answer.status !== 200) throw unavailable();
    let link: { accountNo?: unknown; userUuid?: unknown };
    try {
      link = JSON.parse(answer.body.toString('utf8')) as typeof link;
    } catch {
      throw unavailable();
    }
    // Trust the answer only when it is about what we asked.
    return link.accountNo === accountNo && link.userUuid === userUuid ? 'linked' : 'notLinked';
  }

  // Checks of one (user, account) already on their way: a burst of one
  // user's payments asks once and shares the answer (single flight).
  const asking = new Map<string, Promise<AccountLinkAnswer>>();

  return {
    check(accountNo, userUuid) {
      const key = `${userUuid}|${accountNo}`;
      const until = confirmedUntil.get(key);
      if (until !== undefined && until > Date.now()) return Promise.resolve('linked');
      const pending = asking.get(key);
      if (pending !== undefined) return pending;
      const answer = ask(accountNo, userUuid)
        .then((result) => {
          if (result === 'linked') remember(key);
          else confirmedUntil.delete(key);
          return result;
        })
        .finally(() => asking.delete(key));
      asking.set(key, answer);
      return answer;
    },
    close: () => upstream.close(),
  };
}
