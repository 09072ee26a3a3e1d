import { AppError } from '@nuri/platform/errors';
import { Agent, request } from 'undici';
import type { AccountLinkAnswer, AccountLinks } from '../domain/payments.ts';

export interface AccountLinkClientOptions {
  /** channel-user's base URL. */
  baseUrl: string;
  internalToken: string;
  timeoutMs: number;
  /** Confirmed links are remembered this long (0: never); refusals never are. */
  cacheTtlMs: number;
  cacheEntriesMax?: number;
  connectionsMax?: number;
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
 * Asks channel-user whether an account is linked to a user. A positive answer
 * may be cached briefly: the core checks ownership again when it debits, so a
 * stale "yes" ends as a FAILED payment with the points refunded, never as
 * money taken from someone else.
 */
export function createAccountLinkClient(options: AccountLinkClientOptions): AccountLinkClient {
  const cacheEntriesMax = options.cacheEntriesMax ?? 10_000;
  const agent = new Agent({
    connections: options.connectionsMax ?? 32,
    connectTimeout: options.timeoutMs,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  const confirmedUntil = new Map<string, number>();

  function remember(key: string): void {
    if (options.cacheTtlMs <= 0) return;
    if (confirmedUntil.size >= cacheEntriesMax) {
      // Map iteration is insertion order: drop the oldest entry.
      const oldest = confirmedUntil.keys().next().value;
      if (oldest !== undefined) confirmedUntil.delete(oldest);
    }
    confirmedUntil.set(key, Date.now() + options.cacheTtlMs);
  }

  async function ask(accountNo: string, userUuid: string): Promise<AccountLinkAnswer> {
    const url = new URL(`/internal/v1/account-links/${encodeURIComponent(accountNo)}`, options.baseUrl);
    url.searchParams.set('userUuid', userUuid);
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, {
        dispatcher: agent,
        headers: { authorization: `Bearer ${options.internalToken}`, accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch {
      throw unavailable();
    }
    const { statusCode } = response;
    const body = await response.body.text().catch(() => undefined);
    if (statusCode === 404) return 'notLinked';
    if (statusCode !== 200 || body === undefined) throw unavailable();
    let link: { accountNo?: unknown; userUuid?: unknown };
    try {
      link = JSON.parse(body) as typeof link;
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
    close: () => agent.close(),
  };
}
