// The public API (docs/api.md) as the suite uses it outside the load: seeding
// customers, accounts, points and campaigns, and reading back what the load
// did. Everything goes through the gateway, as a client's would.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const requestTimeoutMs = 30_000;

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers of our own API, read by field
  json: any;
  text: string;
}

export class Api {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  async call(
    method: 'GET' | 'POST',
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text };
  }

  /** The call, which must answer `status`; anything else stops the suite with what it said. */
  async expect(
    status: number,
    method: 'GET' | 'POST',
    path: string,
    options: Parameters<Api['call']>[2] = {},
  ): Promise<Answer> {
    const answer = await this.call(method, path, options);
    if (answer.status !== status) {
      throw new Error(
        `${method} ${path} answered ${answer.status}, expected ${status}: ${answer.text.slice(0, 300)}`,
      );
    }
    return answer;
  }
}

/** Runs `work` over `items` with at most `concurrency` at once, keeping the order of results. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

// --- customers ----------------------------------------------------------------

export interface Customer {
  loginId: string;
  password: string;
  userUuid: string;
  token: string;
  tokenAtMs: number;
  accounts: string[];
}

/** Access tokens live 15 min (channel-user's default); older than this, a scenario logs in again. */
const tokenRefreshAfterMs = 10 * 60_000;
/** Signups hash a password with argon2id: more at once only queue behind channel-user's thread pool. */
const signupConcurrency = 4;

function randomRrn(): string {
  const bytes = randomBytes(8);
  const year = String(bytes[0]! % 100).padStart(2, '0');
  const month = String(1 + (bytes[1]! % 12)).padStart(2, '0');
  const day = String(1 + (bytes[2]! % 28)).padStart(2, '0');
  // Born in the 1900s (gender digit 1 or 2): every YYMMDD above is a real date.
  const serial = String(bytes.readUInt32BE(4) % 1_000_000).padStart(6, '0');
  return `${year}${month}${day}-${1 + (bytes[3]! % 2)}${serial}`;
}

async function signUp(api: Api, accountsEach: number): Promise<Customer> {
  const loginId = `bench_${randomBytes(6).toString('hex')}`;
  const password = `bench-${randomBytes(8).toString('hex')}-1`;
  let signup = await api.call('POST', '/api/v1/auth/signup', {
    body: { loginId, password, name: '벤치 고객', rrn: randomRrn() },
  });
  // Two random RRNs can meet; another person is as good.
  for (let attempt = 0; signup.status === 409 && attempt < 3; attempt += 1) {
    signup = await api.call('POST', '/api/v1/auth/signup', {
      body: { loginId, password, name: '벤치 고객', rrn: randomRrn() },
    });
  }
  if (signup.status !== 201)
    throw new Error(`signup answered ${signup.status}: ${signup.text.slice(0, 300)}`);
  const login = await api.expect(200, 'POST', '/api/v1/auth/login', { body: { loginId, password } });
  const customer: Customer = {
    loginId,
    password,
    userUuid: signup.json.userUuid,
    token: login.json.accessToken,
    tokenAtMs: Date.now(),
    accounts: [],
  };
  for (let index = 0; index < accountsEach; index += 1) {
    const opened = await api.expect(201, 'POST', '/api/v1/accounts', { token: customer.token, body: {} });
    customer.accounts.push(opened.json.accountNo);
  }
  return customer;
}

export function signUpCustomers(api: Api, count: number, accountsEach: number): Promise<Customer[]> {
  return mapConcurrently(Array.from({ length: count }), signupConcurrency, () => signUp(api, accountsEach));
}

/** Logs in again whoever holds a token old enough to expire during the next scenario. */
export async function refreshTokens(api: Api, customers: readonly Customer[]): Promise<void> {
  const stale = customers.filter((customer) => Date.now() - customer.tokenAtMs > tokenRefreshAfterMs);
  await mapConcurrently(stale, signupConcurrency, async (customer) => {
    const login = await api.expect(200, 'POST', '/api/v1/auth/login', {
      body: { loginId: customer.loginId, password: customer.password },
    });
    customer.token = login.json.accessToken;
    customer.tokenAtMs = Date.now();
  });
}

/** Every account's balance, read through the API: accountNo → won. */
export async function balances(api: Api, customers: readonly Customer[]): Promise<Map<string, number>> {
  const lists = await mapConcurrently(customers, 8, (customer) =>
    api.expect(200, 'GET', '/api/v1/accounts', { token: customer.token }),
  );
  const result = new Map<string, number>();
  for (const list of lists) {
    for (const account of list.json.items as Array<{ accountNo: string; balance: number }>) {
      result.set(account.accountNo, account.balance);
    }
  }
  return result;
}

/** Deposits `amount` into every account of every customer and waits until each is COMPLETED. */
export async function fundAccounts(
  api: Api,
  customers: readonly Customer[],
  amount: number,
  timeoutMs: number,
): Promise<void> {
  const pairs = customers.flatMap((customer) =>
    customer.accounts.map((accountNo) => ({ customer, accountNo })),
  );
  const deposits = await mapConcurrently(pairs, 8, async ({ customer, accountNo }) => {
    const accepted = await api.expect(202, 'POST', `/api/v1/accounts/${accountNo}/deposits`, {
      token: customer.token,
      body: { amount },
    });
    return { token: customer.token, id: accepted.json.depositId as string };
  });
  const outcome = await awaitTerminal(api, deposits, 'deposits', timeoutMs);
  const failed = outcome.filter((item) => item.status !== 'COMPLETED');
  if (failed.length > 0) throw new Error(`${failed.length} funding deposits ended ${failed[0]!.status}`);
}

export interface Terminal {
  id: string;
  status: string;
  failureCode?: string;
  settledAtMs: number;
  /** When the suite saw it terminal (an upper bound on when it became so). */
  seenAtMs: number;
}

const sweepConcurrency = 16;
const sweepPauseMs = 250;

/**
 * Polls `GET /api/v1/<kind>/<id>` for every item until none is PENDING:
 * each sweep asks only about those still pending, so the polling thins out
 * as they settle. Resolves with every item's terminal state.
 */
export async function awaitTerminal(
  api: Api,
  items: ReadonlyArray<{ token: string; id: string }>,
  kind: 'deposits' | 'payments',
  timeoutMs: number,
): Promise<Terminal[]> {
  const deadline = Date.now() + timeoutMs;
  const done = new Map<string, Terminal>();
  let pending = [...items];
  while (pending.length > 0) {
    if (Date.now() > deadline) {
      throw new Error(`${pending.length} of ${items.length} ${kind} still PENDING after ${timeoutMs} ms`);
    }
    const answers = await mapConcurrently(pending, sweepConcurrency, (item) =>
      api.expect(200, 'GET', `/api/v1/${kind}/${item.id}`, { token: item.token }),
    );
    const seenAtMs = Date.now();
    const still: typeof pending = [];
    answers.forEach((answer, index) => {
      const item = pending[index]!;
      if (answer.json.status === 'PENDING') {
        still.push(item);
        return;
      }
      done.set(item.id, {
        id: item.id,
        status: answer.json.status,
        ...(answer.json.failureCode === undefined ? {} : { failureCode: answer.json.failureCode }),
        settledAtMs: Date.parse(answer.json.settledAt),
        seenAtMs,
      });
    });
    pending = still;
    if (pending.length > 0) await sleep(sweepPauseMs);
  }
  return items.map((item) => done.get(item.id)!);
}

export async function createCampaign(api: Api, adminToken: string, quantity: number): Promise<string> {
  const created = await api.expect(201, 'POST', '/api/v1/admin/coupon-campaigns', {
    headers: { authorization: `Bearer ${adminToken}` },
    body: { name: `bench ${new Date().toISOString()}`, quantity },
  });
  return created.json.campaignId;
}
