// A careful client of the public API, for the tests that break things on
// purpose: every money-moving request carries an Idempotency-Key and is sent
// again with the same key until the answer is definite (2xx or 4xx), as
// docs/api.md tells clients to do. Every attempt is logged with its second, route
// and answer, so a test can say which requests failed, when, and how.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test-side JSON access
  body: any;
}

/** One attempt as the client saw it: an HTTP answer, or `network` when no answer came. */
export interface Attempt {
  at: number;
  /** A route template, e.g. `POST /api/v1/accounts/:accountNo/withdrawals`. */
  route: string;
  status: number | 'network';
  /** The problem+json `code` of an error answer, when there was one. */
  code: string | undefined;
  contentType: string;
  ms: number;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  /** Idempotency-Key; the careful client makes one per intent when asked (`key: true`). */
  key?: string;
  headers?: Record<string, string>;
}

const attemptTimeoutMs = 15_000;

export class BankClient {
  readonly attempts: Attempt[] = [];
  readonly #base: string;

  constructor(baseUrl: string) {
    this.#base = baseUrl;
  }

  /** One attempt; a failure to get any answer throws (and is logged as `network`). */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.key !== undefined) headers['idempotency-key'] = options.key;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const started = Date.now();
    const route = `${method} ${templateOf(path)}`;
    let response: Response;
    try {
      response = await fetch(`${this.#base}${path}`, {
        method,
        headers,
        signal: AbortSignal.timeout(attemptTimeoutMs),
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
    } catch (error) {
      this.attempts.push({
        at: started,
        route,
        status: 'network',
        code: undefined,
        contentType: '',
        ms: Date.now() - started,
      });
      throw error;
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    const code =
      typeof (body as { code?: unknown })?.code === 'string' ? (body as { code: string }).code : undefined;
    this.attempts.push({
      at: started,
      route,
      status: response.status,
      code: response.status >= 400 ? code : undefined,
      contentType: response.headers.get('content-type') ?? '',
      ms: Date.now() - started,
    });
    return { status: response.status, headers: response.headers, text, body };
  }

  /**
   * Sends until the answer is definite: 2xx, or a 4xx other than 409
   * IDEMPOTENCY_KEY_IN_PROGRESS and 429. Network failures and 5xx are retried
   * with the same key after a short pause. Gives up after `deadlineMs`.
   */
  async careful(
    method: string,
    path: string,
    options: RequestOptions = {},
    deadlineMs = 90_000,
  ): Promise<Answer> {
    const deadline = Date.now() + deadlineMs;
    let last: string | undefined;
    for (let attempt = 0; Date.now() < deadline; attempt += 1) {
      try {
        const answer = await this.send(method, path, options);
        if (isDefinite(answer)) return answer;
        last = `${answer.status} ${answer.text.slice(0, 200)}`;
        const retryAfter = Number(answer.headers.get('retry-after') ?? '0');
        await sleep(Math.min(2_000, Math.max(100 * 2 ** Math.min(attempt, 4), retryAfter * 1_000)));
      } catch (error) {
        last = (error as Error).message;
        await sleep(Math.min(1_000, 100 * 2 ** Math.min(attempt, 3)));
      }
    }
    throw new Error(`${method} ${path}: no definite answer within ${deadlineMs} ms (last: ${last})`);
  }
}

export function isDefinite(answer: Answer): boolean {
  if (answer.status >= 200 && answer.status < 300) return true;
  if (answer.status === 429) return false;
  if (answer.status === 409 && answer.body?.code === 'IDEMPOTENCY_KEY_IN_PROGRESS') return false;
  return answer.status >= 400 && answer.status < 500;
}

export function newKey(prefix: string): string {
  return `${prefix}-${randomBytes(8).toString('hex')}`;
}

/** Path parameters replaced, so attempts group by route. */
export function templateOf(path: string): string {
  return path
    .split('?')[0]!
    .replace(/\/\d{3}-\d{3}-\d{6}/g, '/:accountNo')
    .replace(/\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '/:id');
}

export interface Person {
  name: string;
  rrn: string;
  phone: string;
  loginId: string;
  password: string;
}

const givenNames = ['민준', '서연', '도윤', '하은', '지호', '수아', '예준', '지우'];
const familyNames = ['김', '이', '박', '최', '정', '강', '조', '윤'];

export function newPerson(): Person {
  const pick = <T>(items: T[]) => items[randomBytes(1)[0]! % items.length]!;
  const month = String(1 + (randomBytes(1)[0]! % 12)).padStart(2, '0');
  const day = String(1 + (randomBytes(1)[0]! % 28)).padStart(2, '0');
  const serial = randomBytes(4).readUInt32BE(0).toString().padStart(6, '0').slice(0, 6);
  return {
    name: `${pick(familyNames)}${pick(givenNames)}${pick(givenNames)}`,
    rrn: `8${randomBytes(1)[0]! % 10}${month}${day}-${1 + (randomBytes(1)[0]! % 2)}${serial}`,
    phone: `010-${String(1000 + (randomBytes(2).readUInt16BE(0) % 9000))}-${String(1000 + (randomBytes(2).readUInt16BE(0) % 9000))}`,
    loginId: `e2e_${randomBytes(6).toString('hex')}`,
    password: `pw-${randomBytes(6).toString('hex')}-7`,
  };
}

export interface Customer {
  person: Person;
  userUuid: string;
  token: string;
  refreshToken: string;
  accountNo: string;
}

/** Signs a new person up, logs in and opens one account; fails the test on anything but success. */
export async function newCustomer(client: BankClient): Promise<Customer> {
  const person = newPerson();
  const signup = await client.careful('POST', '/api/v1/auth/signup', {
    body: { loginId: person.loginId, password: person.password, name: person.name, rrn: person.rrn },
  });
  if (signup.status !== 201) throw new Error(`signup answered ${signup.status}: ${signup.text}`);
  const login = await client.careful('POST', '/api/v1/auth/login', {
    body: { loginId: person.loginId, password: person.password },
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${login.text}`);
  const token = login.body.accessToken as string;
  const opened = await client.careful('POST', '/api/v1/accounts', { token, body: {}, key: newKey('open') });
  if (opened.status !== 201) throw new Error(`account opening answered ${opened.status}: ${opened.text}`);
  return {
    person,
    userUuid: signup.body.userUuid,
    token,
    refreshToken: login.body.refreshToken,
    accountNo: opened.body.accountNo,
  };
}

/** Polls a deposit until it is no longer PENDING. */
export async function settledDeposit(
  client: BankClient,
  customer: Customer,
  depositId: string,
  timeoutMs: number,
): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await client.careful('GET', `/api/v1/deposits/${depositId}`, { token: customer.token });
    if (answer.body?.status !== 'PENDING' || Date.now() > deadline) return answer;
    await sleep(200);
  }
}

/** Polls a payment until it is no longer PENDING. */
export async function settledPayment(
  client: BankClient,
  customer: Customer,
  paymentId: string,
  timeoutMs: number,
): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await client.careful('GET', `/api/v1/payments/${paymentId}`, { token: customer.token });
    if (answer.body?.status !== 'PENDING' || Date.now() > deadline) return answer;
    await sleep(200);
  }
}

/** Every 5xx attempt, with its second: what a test checks against the faults it injected. */
export function serverErrors(attempts: readonly Attempt[]): Attempt[] {
  return attempts.filter((attempt) => attempt.status !== 'network' && attempt.status >= 500);
}
