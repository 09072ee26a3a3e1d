// The bank's customers, simulated through the gateway: signups and logins,
// accounts, deposits, withdrawals, transfers, composite payments (some
// failing for cash), point charges and coupon issues on campaigns smaller
// than the crowd. Open loop: operations start at the offered rate whatever
// the answers, as real customers keep arriving during an outage.
//
// The client is careful (docs/api.md, Idempotency): every money-moving
// request carries an Idempotency-Key and is sent again with the same key
// until the answer is definite — a 2xx or a 4xx other than 409
// IDEMPOTENCY_KEY_IN_PROGRESS and 429 — however long the fault lasts. What
// it was finally told goes into the record (record.ts).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Answer, BankClient, isDefinite, templateOf } from '../e2e/workload.ts';
import type { Random } from './random.ts';
import {
  type BadServerError,
  type CampaignRecord,
  type CustomerRecord,
  coreBoundKinds,
  type Operation,
  type OperationKind,
} from './record.ts';

export interface Person {
  name: string;
  rrn: string;
  phone: string;
  loginId: string;
  password: string;
}

interface Customer extends CustomerRecord {
  person: Person;
  token: string;
  /** When it logged in: a loginId may try 20 times in 15 minutes (docs/api.md). */
  loginsAt: number[];
  depositIds: string[];
}

export interface WorkloadOptions {
  /** Operations started per second. */
  rate: number;
  customers: number;
  /** Signups during the run stop here. */
  customersMax: number;
  adminToken: string;
  /** A new coupon campaign this often, each for fewer coupons than the crowd. */
  campaignEveryMs: number;
}

const retryDelayMaxMs = 3_000;
const startingBalance = 200_000;
const startingPoints = 5_000;
const loginsPerWindowMax = 15;
const loginWindowMs = 15 * 60_000;
const tickMs = 20;

// How often each operation is drawn: a mix of the channel's own routes and
// those that need the core, money moving both ways.
const mix: ReadonlyArray<readonly [OperationKind | 'read-account' | 'read-deposit' | 'read-points', number]> =
  [
    ['deposit', 20],
    ['withdrawal', 13],
    ['transfer', 10],
    ['payment', 10],
    ['point-charge', 10],
    ['coupon-issue', 10],
    ['read-account', 9],
    ['read-deposit', 5],
    ['read-points', 5],
    ['login', 2],
    ['signup', 1],
    ['open-account', 1],
  ];

export class Workload {
  readonly client: BankClient;
  readonly operations: Operation[] = [];
  readonly customers: Customer[] = [];
  readonly campaigns: CampaignRecord[] = [];
  readonly badServerErrors: BadServerError[] = [];
  /** Operations not started because too many that need the core were still retrying. */
  shed = 0;
  readonly #random: Random;
  readonly #people: Random;
  readonly #options: WorkloadOptions;
  readonly #inFlight = new Set<Promise<void>>();
  /** Customers who can bank: signed up, logged in, with an account. */
  readonly #active: Customer[] = [];
  #coreBoundInFlight = 0;
  #aborted = false;

  constructor(gatewayUrl: string, random: Random, options: WorkloadOptions) {
    this.client = new BankClient(gatewayUrl);
    this.#random = random.fork('operations');
    this.#people = random.fork('people');
    this.#options = options;
  }

  /** Everyone the run created: the checker scans the logs for them. */
  people(): Person[] {
    return this.customers.map((customer) => customer.person);
  }

  inFlight(): number {
    return this.#inFlight.size;
  }

  /** Customers with an account each (funded) and points, and the first campaign; before any fault. */
  async setUp(onProgress: (message: string) => void): Promise<void> {
    let remaining = this.#options.customers;
    // Four at a time: each signup hashes a password (argon2id), the costliest thing the bank does.
    const workers = Array.from({ length: 4 }, async () => {
      while (remaining > 0) {
        remaining -= 1;
        await this.#signUp(true);
      }
    });
    await Promise.all(workers);
    onProgress(`${this.customers.length} customers signed up, each with an account`);
    await Promise.all(
      this.#active.map(async (customer) => {
        await this.#run('deposit', customer, (operation) =>
          this.#deposit(operation, customer, customer.accounts[0]!, startingBalance),
        );
        await this.#run('point-charge', customer, (operation) =>
          this.#charge(operation, customer, startingPoints),
        );
      }),
    );
    await this.#newCampaign();
  }

  /** Offers the load for `durationMs`, open loop; resolves when the last operation has been started. */
  async offer(durationMs: number): Promise<void> {
    const started = Date.now();
    let launched = 0;
    let lastCampaignAt = started;
    while (Date.now() - started < durationMs && !this.#aborted) {
      const due = Math.floor(((Date.now() - started) / 1_000) * this.#options.rate);
      for (; launched < due; launched += 1) this.#launch(this.#random.weighted(mix));
      if (Date.now() - lastCampaignAt >= this.#options.campaignEveryMs) {
        lastCampaignAt = Date.now();
        this.#track(this.#newCampaign().catch(() => undefined));
      }
      await sleep(tickMs);
    }
  }

  /** A burst of deposits at once, so that a kill right after lands inside their batch. */
  burst(count: number): void {
    for (let index = 0; index < count; index += 1) this.#launch('deposit');
  }

  /** Waits until every operation has its definite answer, or the deadline; the rest are indeterminate. */
  async drain(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inFlight.size > 0 && Date.now() < deadline) await sleep(200);
    const left = this.#inFlight.size;
    this.#aborted = true;
    await Promise.all([...this.#inFlight]);
    return left;
  }

  #launch(choice: (typeof mix)[number][0]): void {
    const customer = this.#random.pick(this.#active);
    const kind: OperationKind = choice.startsWith('read-') ? 'read' : (choice as OperationKind);
    // An open loop against a system that stopped answering would pile up without end: past a few
    // seconds' worth of operations in flight, new ones are not started (and counted as shed).
    if (this.#inFlight.size >= Math.max(200, this.#options.rate * 5)) {
      this.shed += 1;
      return;
    }
    if (coreBoundKinds.has(kind) || choice === 'read-account') {
      // Those retry for as long as the core is away: bounded, or a partition's backlog would swamp the machine.
      if (this.#coreBoundInFlight >= Math.max(50, this.#options.rate)) {
        this.shed += 1;
        return;
      }
    }
    const work = this.#operation(choice, customer);
    if (work !== undefined) this.#track(work);
  }

  #track(work: Promise<unknown>): void {
    const tracked: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(tracked));
  }

  #operation(choice: (typeof mix)[number][0], customer: Customer): Promise<unknown> | undefined {
    const random = this.#random;
    const account = random.pick(customer.accounts);
    switch (choice) {
      case 'deposit':
        return this.#run('deposit', customer, (operation) =>
          this.#deposit(operation, customer, account, random.int(1, 50) * 1_000),
        );
      case 'withdrawal':
        return this.#run('withdrawal', customer, (operation) =>
          this.#withdraw(operation, customer, account, random.int(1, 40) * 1_000),
        );
      case 'transfer': {
        const other = random.pick(this.#active.filter((candidate) => candidate !== customer));
        return this.#run('transfer', customer, (operation) =>
          this.#transfer(
            operation,
            customer,
            account,
            random.pick(other.accounts),
            random.int(1, 20) * 1_000,
          ),
        );
      }
      case 'payment': {
        // One in five is for more cash than any account here holds: it fails and the points come back.
        const cash = random.chance(0.2) ? 50_000_000 : random.int(0, 20) * 500;
        const points = cash === 0 || random.chance(0.6) ? random.int(1, 10) * 50 : 0;
        return this.#run('payment', customer, (operation) =>
          this.#pay(operation, customer, account, cash, points),
        );
      }
      case 'point-charge':
        return this.#run('point-charge', customer, (operation) =>
          this.#charge(operation, customer, random.int(1, 20) * 100),
        );
      case 'coupon-issue': {
        const campaign = this.campaigns.at(-1);
        if (campaign === undefined) return undefined;
        return this.#run('coupon-issue', customer, (operation) =>
          this.#issue(operation, customer, campaign.campaignId),
        );
      }
      case 'read-account':
        return this.#run('read', customer, (operation) =>
          this.#read(operation, customer, `/api/v1/accounts/${account}`),
        );
      case 'read-deposit': {
        const depositId = customer.depositIds.length === 0 ? undefined : random.pick(customer.depositIds);
        if (depositId === undefined) return undefined;
        return this.#run('read', customer, (operation) =>
          this.#read(operation, customer, `/api/v1/deposits/${depositId}`),
        );
      }
      case 'read-points':
        return this.#run('read', customer, (operation) => this.#read(operation, customer, '/api/v1/points'));
      case 'login': {
        const now = Date.now();
        const recent = customer.loginsAt.filter((at) => now - at < loginWindowMs).length;
        if (recent >= loginsPerWindowMax) {
          return this.#run('read', customer, (operation) => this.#read(operation, customer, '/api/v1/me'));
        }
        return this.#run('login', customer, (operation) => this.#logIn(operation, customer));
      }
      case 'signup':
        if (this.customers.length >= this.#options.customersMax) return undefined;
        return this.#signUp(false);
      case 'open-account':
        if (customer.accounts.length >= 5) return undefined;
        return this.#run('open-account', customer, (operation) => this.#open(operation, customer));
      default:
        return undefined;
    }
  }

  /** Runs one operation as a record entry; the step fills it in. */
  async #run(
    kind: OperationKind,
    customer: Customer,
    step: (operation: Operation) => Promise<void>,
  ): Promise<void> {
    const operation: Operation = {
      id: this.operations.length + 1,
      kind,
      customer: customer.index,
      route: '',
      startedAt: Date.now(),
      attempts: 0,
      outcome: 'pending',
    };
    this.operations.push(operation);
    const coreBound = coreBoundKinds.has(kind);
    if (coreBound) this.#coreBoundInFlight += 1;
    try {
      await step(operation);
    } finally {
      if (coreBound) this.#coreBoundInFlight -= 1;
      operation.endedAt = Date.now();
    }
  }

  /**
   * Sends until the answer is definite. Network failures, 5xx, 429 and 409
   * IDEMPOTENCY_KEY_IN_PROGRESS are retried with the same key after a pause
   * (Retry-After when given); only the end of the run stops it.
   */
  async #careful(
    operation: Operation,
    method: string,
    path: string,
    options: { token?: string; body?: unknown; key?: string } = {},
  ): Promise<Answer | undefined> {
    operation.route = `${method} ${templateOf(path)}`;
    if (options.key !== undefined) operation.key = options.key;
    for (let attempt = 0; ; attempt += 1) {
      if (this.#aborted) {
        operation.outcome = 'indeterminate';
        return undefined;
      }
      operation.attempts += 1;
      let answer: Answer | undefined;
      try {
        answer = await this.client.send(method, path, options);
      } catch {
        answer = undefined;
      }
      if (answer !== undefined) {
        if (answer.status >= 500) this.#inspectServerError(operation.route, answer);
        if (isDefinite(answer)) {
          operation.outcome = 'definite';
          operation.status = answer.status;
          if (answer.status >= 400 && typeof answer.body?.code === 'string')
            operation.code = answer.body.code;
          return answer;
        }
      }
      const retryAfterMs = Number(answer?.headers.get('retry-after') ?? '0') * 1_000;
      const backoffMs = Math.min(retryDelayMaxMs, 200 * 2 ** Math.min(attempt, 5));
      await sleep(Math.max(retryAfterMs, backoffMs * (0.5 + Math.random())));
    }
  }

  /** docs/api.md, Errors: a 5xx is problem+json with a code and never carries internals. */
  #inspectServerError(route: string, answer: Answer): void {
    const reason = serverErrorProblem(answer);
    if (reason === undefined || this.badServerErrors.length >= 200) return;
    this.badServerErrors.push({
      at: Date.now(),
      route,
      status: answer.status,
      contentType: answer.headers.get('content-type') ?? '',
      reason,
    });
  }

  // --- the operations -------------------------------------------------------

  /** A new person signs up, logs in and opens an account; only then does it join the crowd. */
  async #signUp(initial: boolean): Promise<void> {
    const index = this.customers.length;
    const person = newPerson(this.#people, index);
    const customer: Customer = {
      index,
      loginId: person.loginId,
      userUuid: '',
      accounts: [],
      person,
      token: '',
      loginsAt: [],
      depositIds: [],
    };
    this.customers.push(customer);
    await this.#run('signup', customer, async (operation) => {
      const answer = await this.#careful(operation, 'POST', '/api/v1/auth/signup', {
        body: {
          loginId: person.loginId,
          password: person.password,
          name: person.name,
          rrn: person.rrn,
          phone: person.phone,
        },
      });
      // A retried signup whose first attempt went through meets its own login id (409 LOGIN_ID_TAKEN).
      if (answer?.status === 201) customer.userUuid = answer.body.userUuid;
    });
    await this.#run('login', customer, (operation) => this.#logIn(operation, customer));
    if (customer.token !== '') {
      await this.#run('open-account', customer, (operation) => this.#open(operation, customer));
    }
    if (customer.accounts.length > 0) this.#active.push(customer);
    else if (initial) throw new Error(`customer ${person.loginId} could not be set up`);
  }

  async #logIn(operation: Operation, customer: Customer): Promise<void> {
    customer.loginsAt.push(Date.now());
    const answer = await this.#careful(operation, 'POST', '/api/v1/auth/login', {
      body: { loginId: customer.person.loginId, password: customer.person.password },
    });
    if (answer?.status !== 200) return;
    customer.token = answer.body.accessToken;
    if (customer.userUuid === '') customer.userUuid = subjectOf(answer.body.accessToken);
  }

  async #open(operation: Operation, customer: Customer): Promise<void> {
    const answer = await this.#careful(operation, 'POST', '/api/v1/accounts', {
      token: customer.token,
      body: {},
      key: newKey('open'),
    });
    if (answer?.status !== 201) return;
    operation.ref = answer.body.accountNo;
    customer.accounts.push(answer.body.accountNo);
  }

  async #deposit(operation: Operation, customer: Customer, accountNo: string, amount: number): Promise<void> {
    Object.assign(operation, { accountNo, amount });
    const answer = await this.#careful(operation, 'POST', `/api/v1/accounts/${accountNo}/deposits`, {
      token: customer.token,
      body: { amount },
      key: newKey('dep'),
    });
    if (answer?.status !== 202) return;
    operation.ref = answer.body.depositId;
    customer.depositIds.push(answer.body.depositId);
  }

  async #withdraw(
    operation: Operation,
    customer: Customer,
    accountNo: string,
    amount: number,
  ): Promise<void> {
    Object.assign(operation, { accountNo, amount });
    const answer = await this.#careful(operation, 'POST', `/api/v1/accounts/${accountNo}/withdrawals`, {
      token: customer.token,
      body: { amount },
      key: newKey('wd'),
    });
    if (answer?.status === 200) operation.ref = answer.body.withdrawalId;
  }

  async #transfer(
    operation: Operation,
    customer: Customer,
    fromAccountNo: string,
    toAccountNo: string,
    amount: number,
  ): Promise<void> {
    Object.assign(operation, { accountNo: fromAccountNo, toAccountNo, amount });
    const answer = await this.#careful(operation, 'POST', '/api/v1/transfers', {
      token: customer.token,
      body: { fromAccountNo, toAccountNo, amount, memo: '카오스' },
      key: newKey('tr'),
    });
    if (answer?.status === 200) operation.ref = answer.body.transferId;
  }

  async #pay(
    operation: Operation,
    customer: Customer,
    accountNo: string,
    cashAmount: number,
    pointAmount: number,
  ): Promise<void> {
    Object.assign(operation, { accountNo, cashAmount, pointAmount });
    const answer = await this.#careful(operation, 'POST', '/api/v1/payments', {
      token: customer.token,
      body: { accountNo, cashAmount, pointAmount, merchant: 'chaos mart' },
      key: newKey('pay'),
    });
    if (answer?.status === 202) operation.ref = answer.body.paymentId;
  }

  async #charge(operation: Operation, customer: Customer, amount: number): Promise<void> {
    operation.amount = amount;
    await this.#careful(operation, 'POST', '/api/v1/points/charge', {
      token: customer.token,
      body: { amount },
      key: newKey('charge'),
    });
  }

  async #issue(operation: Operation, customer: Customer, campaignId: string): Promise<void> {
    operation.campaignId = campaignId;
    // No key: a user holds one coupon per campaign, and a retry answers with the coupon it holds.
    const answer = await this.#careful(operation, 'POST', `/api/v1/coupon-campaigns/${campaignId}/issue`, {
      token: customer.token,
    });
    if (answer?.status === 201 || answer?.body?.code === 'ALREADY_ISSUED')
      operation.ref = answer.body.couponId;
  }

  async #read(operation: Operation, customer: Customer, path: string): Promise<void> {
    await this.#careful(operation, 'GET', path, { token: customer.token });
  }

  async #newCampaign(): Promise<void> {
    // Fewer coupons than customers: the crowd sells it out, and the rest hear 410.
    const quantity = Math.max(1, Math.floor(this.#active.length / 2));
    const operation: Operation = {
      id: 0,
      kind: 'read',
      customer: -1,
      route: '',
      startedAt: Date.now(),
      attempts: 0,
      outcome: 'pending',
    };
    const answer = await this.#careful(operation, 'POST', '/api/v1/admin/coupon-campaigns', {
      token: this.#options.adminToken,
      body: { name: `chaos ${this.campaigns.length + 1}`, quantity },
    });
    if (answer?.status !== 201)
      throw new Error(`a campaign could not be created: ${answer?.status} ${answer?.text}`);
    this.campaigns.push({ campaignId: answer.body.campaignId, quantity, createdAt: Date.now() });
  }

  /** The customer's access token, for the checker's reads. */
  tokenOf(index: number): string {
    return this.customers[index]!.token;
  }
}

/** Why a 5xx answer breaks docs/api.md's promise, or undefined when it keeps it. */
export function serverErrorProblem(answer: {
  status: number;
  headers: Headers;
  text: string;
}): string | undefined {
  const contentType = answer.headers.get('content-type') ?? '';
  if (!contentType.startsWith('application/problem+json')) return `content-type ${contentType || '(none)'}`;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return 'a body that is not JSON';
  }
  if (typeof body !== 'object' || body === null) return 'a body that is not an object';
  const problem = body as Record<string, unknown>;
  if (typeof problem.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(problem.code)) return 'no code';
  if (problem.status !== answer.status) return `status ${String(problem.status)} in the body`;
  const allowed = new Set(['type', 'title', 'status', 'code', 'detail', 'traceId']);
  const extra = Object.keys(problem).filter((key) => !allowed.has(key));
  if (extra.length > 0) return `unexpected fields ${extra.join(', ')}`;
  if (internalsPattern.test(answer.text))
    return `internals in the text (${internalsPattern.exec(answer.text)?.[0]})`;
  return undefined;
}

/** What an answer must never show: stack frames, driver errors, SQL, file paths, addresses. */
const internalsPattern =
  /(\bat [\w.<>]+ \(|node:internal|\/services\/|\/packages\/|\.ts:\d+|ECONNREFUSED|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|\bSELECT\b|\bINSERT\b|\bUPDATE\b.*\bSET\b|KafkaJS|Kysely|\bpg_|\bER_[A-Z_]+|10\.231\.\d+\.\d+|127\.0\.0\.1:\d+)/;

function newKey(prefix: string): string {
  return `${prefix}-${randomBytes(8).toString('hex')}`;
}

function subjectOf(token: string): string {
  const payload = token.split('.')[1] ?? '';
  try {
    return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: string }).sub ?? '';
  } catch {
    return '';
  }
}

const familyNames = ['김', '이', '박', '최', '정', '강', '조', '윤', '남궁', '황보'];
const givenNames = ['민준', '서연', '도윤', '하은', '지호', '수아', '예준', '지우', '은비', '태희'];
const latinNames = ['José Núñez', 'Zoë Brontë', 'Chloé Dubois', 'Søren Kierkegaard', 'Ana María López'];

/** A person drawn from the seed; the index keeps RRNs, phones and login ids unique within the run. */
export function newPerson(random: Random, index: number): Person {
  const latin = random.chance(0.15);
  const name = latin ? random.pick(latinNames) : `${random.pick(familyNames)}${random.pick(givenNames)}`;
  const year = random.int(50, 99);
  const month = String(random.int(1, 12)).padStart(2, '0');
  const day = String(random.int(1, 28)).padStart(2, '0');
  const serial = String(100_000 + ((index * 7_919 + random.int(0, 999)) % 900_000)).padStart(6, '0');
  const phoneMiddle = String(1_000 + (index % 9_000));
  const phoneLast = String(random.int(1_000, 9_999));
  return {
    name,
    rrn: `${year}${month}${day}-${random.int(1, 2)}${serial}`,
    phone: `010-${phoneMiddle}-${phoneLast}`,
    loginId: `chaos_${index}`,
    password: `pw-${random.int(100_000, 999_999)}-chaos`,
  };
}
