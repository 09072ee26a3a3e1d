import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page, Request } from 'playwright-core';
import { environmentWithSecrets } from '../../src/cli/secrets.ts';
import { startTestSystem, type TestSystem } from '../harness.ts';
import { BankClient, newCustomer, newPerson, type Person } from '../workload.ts';
import { accessibilityViolations, launchBrowser, openPage, screenshot, type WatchedPage } from './browser.ts';

// The customer console at / in a real Chromium, through the gateway of a real
// system: every story of issue 17 a customer has, by the accessible names
// outside clients use, with axe-core and the page's console watched.

let system: TestSystem;
let browser: Browser;
let client: BankClient;
let adminToken: string;
const pages: WatchedPage[] = [];

// Short access tokens, so the console's refresh (and its expiry path) runs within a test.
const accessTokenTtlSeconds = 30;

before(async () => {
  system = await startTestSystem({
    envOverrides: { NURI_ACCESS_TOKEN_TTL_SECONDS: String(accessTokenTtlSeconds) },
  });
  client = new BankClient(system.gatewayUrl);
  adminToken = environmentWithSecrets(system.env).NURI_ADMIN_TOKEN!;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await system?.shutdown();
});

async function open(
  path = '/',
  options: { locale?: string; expectedErrors?: RegExp } = {},
): Promise<WatchedPage> {
  const watched = await openPage(browser, `${system.gatewayUrl}${path}`, options);
  pages.push(watched);
  return watched;
}

async function assertAccessible(page: Page, name: string): Promise<void> {
  await screenshot(page, name);
  assert.deepEqual(await accessibilityViolations(page), [], `axe on ${name}`);
}

/** Fills the sign-up form (the phone only when `withPhone`) and presses Sign up. */
async function submitSignUp(page: Page, person: Person, withPhone: boolean): Promise<void> {
  // The log-in form has a Login ID and a Password too: wait for a field only
  // the sign-up form has, or a click on "Sign up" not yet rendered fills the
  // log-in form, and the sign-up form then holds back its empty Login ID.
  await page.getByLabel('Resident registration number').waitFor();
  await page.getByLabel('Login ID').fill(person.loginId);
  await page.getByLabel('Password').fill(person.password);
  await page.getByLabel('Name', { exact: true }).fill(person.name);
  await page.getByLabel('Resident registration number').fill(person.rrn);
  if (withPhone) await page.getByLabel('Phone').fill(person.phone);
  await page.getByRole('button', { name: 'Sign up' }).click();
}

async function signUpThroughConsole(
  page: Page,
  errors: readonly string[],
): Promise<{ loginId: string; password: string; name: string }> {
  const person = newPerson();
  await page.getByRole('link', { name: 'Sign up' }).click();
  await submitSignUp(page, person, true);
  // Signed in, refused, or held back by a field rule: whichever shows first,
  // so a refusal fails here with what the page said, not a bare timeout.
  const signedIn = page.getByRole('button', { name: 'Log out' });
  const refused = page.getByRole('alert');
  const heldBack = page.locator('[aria-invalid="true"]');
  await signedIn.or(refused).or(heldBack).first().waitFor();
  if (!(await signedIn.isVisible())) {
    const said = (await refused.allTextContents()).join(' | ');
    const fields = await heldBack.evaluateAll((inputs) => inputs.map((input) => input.getAttribute('name')));
    throw new Error(
      `sign-up did not sign in: alert ${JSON.stringify(said)}, fields held back ${JSON.stringify(fields)}, ` +
        `console errors ${JSON.stringify(errors)}`,
    );
  }
  return { loginId: person.loginId, password: person.password, name: person.name };
}

function maskedOf(name: string): string {
  const chars = [...name];
  return chars.length <= 2 ? `${chars[0]}*` : `${chars[0]}${'*'.repeat(chars.length - 2)}${chars.at(-1)}`;
}

async function balanceShown(page: Page): Promise<string> {
  return (await page.getByTestId('balance').textContent()) ?? '';
}

describe('the customer console', () => {
  let watched: WatchedPage;
  let page: Page;
  let accountNo: string;
  let person: { loginId: string; password: string; name: string };
  /** A token of the console's customer for checks through the API. */
  const apiToken = async (): Promise<string> => {
    const login = await client.careful('POST', '/api/v1/auth/login', {
      body: { loginId: person.loginId, password: person.password },
    });
    assert.equal(login.status, 200, login.text);
    return login.body.accessToken;
  };

  test('when the page loads, then it is served with a strict CSP, no inline script, and the login form', async () => {
    const response = await fetch(`${system.gatewayUrl}/`);
    assert.equal(response.status, 200);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const html = await response.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
    watched = await open('/', { expectedErrors: /status of 401/ });
    page = watched.page;
    await page.getByLabel('Login ID').waitFor();
    await page.getByLabel('Password').waitFor();
    await assertAccessible(page, 'login');
  });

  test('when sign-up fields break their rules, then the rules are shown before anything is sent', async () => {
    await page.getByRole('link', { name: 'Sign up' }).click();
    await page.getByText('4–20 lowercase letters, digits or _').first().waitFor();
    let sent = 0;
    const count = (request: Request) => {
      if (request.url().endsWith('/api/v1/auth/signup')) sent += 1;
    };
    page.on('request', count);
    await page.getByLabel('Login ID').fill('AB');
    await page.getByLabel('Resident registration number').fill('123');
    await page.getByRole('button', { name: 'Sign up' }).click();
    assert.equal(await page.getByLabel('Login ID').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Resident registration number').getAttribute('aria-invalid'), 'true');
    page.off('request', count);
    assert.equal(sent, 0);
    await assertAccessible(page, 'signup');
    await page.getByRole('link', { name: 'Log in' }).click();
  });

  test('when a customer signs up, then they are signed in and shown by their masked name only', async () => {
    person = await signUpThroughConsole(page, watched.errors);
    await page.getByText(maskedOf(person.name), { exact: true }).waitFor();
    assert.equal(await page.getByText(person.name, { exact: true }).count(), 0, 'the full name never shows');
  });

  test('when they open an account, then it appears by its number with a ₩0 balance', async () => {
    await page.getByLabel('Alias').fill('생활비');
    await page.getByRole('button', { name: 'Open account' }).click();
    const link = page.getByRole('link', { name: /^\d{3}-\d{3}-\d{6}/ });
    await link.waitFor();
    accountNo = ((await link.textContent()) ?? '').slice(0, 14);
    assert.match(accountNo, /^\d{3}-\d{3}-\d{6}$/);
    await page.getByText('₩0', { exact: true }).waitFor();
    await assertAccessible(page, 'accounts');
  });

  test('when they deposit, then PENDING turns COMPLETED and the balance shows it without a reload', async () => {
    await page.getByRole('link', { name: new RegExp(accountNo) }).click();
    await page.getByLabel('Amount').fill('10000');
    await page.getByRole('button', { name: 'Deposit' }).click();
    await page.getByText('Deposit accepted').waitFor();
    await page.locator('.deposits li[data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('balance').getByText('₩10,000').waitFor();
    await page.getByRole('cell', { name: 'Deposit' }).first().waitFor();
    await assertAccessible(page, 'account');
  });

  test('when they withdraw more than they have, then they are told it is Insufficient and nothing moves', async () => {
    await page.getByLabel('Amount').fill('50000');
    await page.getByRole('button', { name: 'Withdraw' }).click();
    await page.getByRole('alert').filter({ hasText: 'Insufficient' }).waitFor();
    assert.equal(await balanceShown(page), '₩10,000');
  });

  test('when a withdrawal’s answer is lost and they press again, then the same key is sent and it is debited once', async () => {
    const keys: string[] = [];
    let dropped = false;
    await page.route('**/withdrawals', async (route) => {
      keys.push(route.request().headers()['idempotency-key'] ?? '');
      if (!dropped) {
        dropped = true;
        // The bank does the work; the answer never reaches the browser.
        await route.fetch();
        await route.abort('connectionreset');
        return;
      }
      await route.continue();
    });
    await page.getByLabel('Amount').fill('3000');
    await page.getByRole('button', { name: 'Withdraw' }).click();
    await page.getByRole('alert').filter({ hasText: 'could not be reached' }).waitFor();
    await page.getByRole('button', { name: 'Withdraw' }).click();
    await page.getByText(/Withdrawn: ₩3,000/).waitFor();
    await page.unroute('**/withdrawals');
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], 'one key for one intent');
    assert.match(keys[0]!, /^[A-Za-z0-9_-]{1,64}$/);
    await page.getByTestId('balance').getByText('₩7,000').waitFor();
    const withdrawals = page.getByRole('cell', { name: 'Withdrawal', exact: true });
    assert.equal(await withdrawals.count(), 1, 'debited once');
  });

  test('when they transfer, then the recipient’s masked name is confirmed first and both balances move', async () => {
    const other = await newCustomer(client);
    const me = await client.careful('GET', '/api/v1/me', { token: other.token });
    await page.getByRole('link', { name: 'Transfer' }).first().click();
    await page.getByLabel('Recipient account number').fill(other.accountNo);
    await page.getByRole('button', { name: 'Check recipient' }).click();
    await page.getByTestId('recipient-name').getByText(me.body.maskedName, { exact: true }).waitFor();
    await page.getByLabel('Amount').fill('2000');
    await page.getByLabel('Memo').fill('점심값');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText(/Sent: ₩2,000/).waitFor();
    await screenshot(page, 'transfer');
    assert.deepEqual(await accessibilityViolations(page), []);
    const theirs = await client.careful('GET', `/api/v1/accounts/${other.accountNo}`, { token: other.token });
    assert.equal(theirs.body.balance, 2000);
    await page.goto(`${system.gatewayUrl}/#/accounts/${accountNo}`);
    await page.getByTestId('balance').getByText('₩5,000').waitFor();
    await page.getByRole('cell', { name: /점심값/ }).waitFor();
  });

  test('when the amount is not a whole positive number, then they are told before anything is sent', async () => {
    let sent = 0;
    const count = (request: Request) => {
      if (/\/(deposits|withdrawals)$/.test(request.url())) sent += 1;
    };
    page.on('request', count);
    for (const typed of ['abc', '0', '-5', '1.5', '100000001']) {
      await page.getByLabel('Amount').fill(typed);
      await page.getByRole('button', { name: 'Withdraw' }).click();
      await page.locator('.field-error').filter({ hasText: 'Please check what you entered.' }).waitFor();
    }
    page.off('request', count);
    assert.equal(sent, 0);
    assert.equal(await page.getByLabel('Amount').getAttribute('aria-invalid'), 'true');
  });

  test('when there are more than 20 transactions, then the newest come first and Load more shows the older', async () => {
    const token = await apiToken();
    for (let n = 0; n < 20; n += 1) {
      const answer = await client.careful('POST', `/api/v1/accounts/${accountNo}/withdrawals`, {
        token,
        body: { amount: 1 },
        key: `page-${n}-${Date.now()}`,
      });
      assert.equal(answer.status, 200, answer.text);
    }
    await page.reload();
    const rows = page.locator('tbody tr');
    await rows.nth(19).waitFor();
    assert.equal(await rows.count(), 20);
    assert.match((await rows.first().textContent()) ?? '', /Withdrawal₩1₩4,980/);
    await page.getByRole('button', { name: 'Load more' }).click();
    await rows.nth(20).waitFor();
    assert.ok((await rows.count()) > 20);
    assert.match((await rows.last().textContent()) ?? '', /Deposit₩10,000₩10,000/);
  });

  test('when they reload, then the session survives without any token in storage or the URL', async () => {
    await page.reload();
    await page.getByText(maskedOf(person.name), { exact: true }).waitFor();
    const stored = await page.evaluate('JSON.stringify({ ...localStorage, ...sessionStorage })');
    assert.equal(stored, '{}');
    assert.doesNotMatch(page.url(), /token/i);
    const cookies = await watched.context.cookies();
    const session = cookies.find((cookie) => cookie.name === 'nuri_refresh');
    assert.ok(session, 'the refresh cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'script cannot read it');
  });

  test('when they charge points and pay, then the saga is drawn and a failed cash step shows the refund', async () => {
    await page.getByRole('link', { name: 'Points' }).click();
    // The account page has an Amount too: fill it only once the points page shows.
    await page.getByRole('button', { name: 'Charge' }).waitFor();
    await page.getByLabel('Amount').fill('3000');
    await page.getByRole('button', { name: 'Charge' }).click();
    await page.getByTestId('point-balance').getByText('₩3,000').waitFor();
    await assertAccessible(page, 'points');
    await page.getByLabel('Cash to pay').fill('1000');
    await page.getByLabel('Points to use').fill('500');
    await page.getByRole('button', { name: 'Pay' }).click();
    await page.getByTestId('payment-status').getByText('Completed').waitFor({ timeout: 60_000 });
    await page.getByText('Points deducted').waitFor();
    await page.getByText('Settled').waitFor();
    await assertAccessible(page, 'payment');
    await page.getByRole('link', { name: 'Back' }).click();
    await page.getByLabel('Cash to pay').fill('900000');
    await page.getByLabel('Points to use').fill('1000');
    await page.getByRole('button', { name: 'Pay' }).click();
    await page.getByTestId('payment-status').getByText('Failed').waitFor({ timeout: 60_000 });
    await page.getByText('Compensated: points refunded').waitFor();
    await page.getByText(/Insufficient balance/).waitFor();
    await page.getByRole('link', { name: 'Back' }).click();
    await page.getByTestId('point-balance').getByText('₩2,500').waitFor();
  });

  test('when a second tab double-clicks Deposit, then one intent moves the money once', async () => {
    const token = await apiToken();
    const deposits = async () => {
      const page = await client.careful('GET', `/api/v1/accounts/${accountNo}/transactions?limit=100`, {
        token,
      });
      return page.body.items.filter((item: { type: string }) => item.type === 'DEPOSIT').length as number;
    };
    const before = await deposits();
    const second = await openPage(browser, `${system.gatewayUrl}/`, { expectedErrors: /status of 401/ });
    pages.push(second);
    await second.page.getByLabel('Login ID').fill(person.loginId);
    await second.page.getByLabel('Password').fill(person.password);
    await second.page.getByRole('button', { name: 'Log in' }).click();
    await second.page.getByRole('button', { name: 'Log out' }).waitFor();
    await second.page.goto(`${system.gatewayUrl}/#/accounts/${accountNo}`);
    await second.page.getByTestId('balance').waitFor();
    const keys: string[] = [];
    second.page.on('request', (request) => {
      if (request.url().endsWith('/deposits')) keys.push(request.headers()['idempotency-key'] ?? '');
    });
    await second.page.getByLabel('Amount').fill('1000');
    await second.page.getByRole('button', { name: 'Deposit' }).dblclick();
    await second.page.locator('.deposits li[data-status="COMPLETED"]').first().waitFor({ timeout: 60_000 });
    assert.ok(keys.length >= 1);
    assert.equal(new Set(keys).size, 1, `one key for the intent: ${keys.join(', ')}`);
    assert.equal(await second.page.locator('.deposits li').count(), 1);
    assert.equal(await deposits(), before + 1, 'one deposit');
    await second.context.close();
  });

  test('when a campaign runs, then its live stock is shown and one click issues one coupon', async () => {
    const name = `Console ${Date.now().toString(36)}`;
    const created = await fetch(`${system.gatewayUrl}/api/v1/admin/coupon-campaigns`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, quantity: 3 }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    await page.getByRole('link', { name: 'Coupons' }).click();
    const item = page.getByRole('listitem').filter({ hasText: name });
    await item.getByText('3 / 3').waitFor();
    await assertAccessible(page, 'coupons');
    await item.getByRole('button', { name: `Get coupon: ${name}` }).click();
    await item.getByText('2 / 3').waitFor();
    await page.getByRole('status').filter({ hasText: name }).waitFor();
    await item.getByRole('button', { name: `Get coupon: ${name}` }).click();
    await page.getByRole('alert').filter({ hasText: 'You already have this coupon.' }).waitFor();
    const mine = await client.careful('GET', '/api/v1/coupons', { token: await apiToken() });
    assert.equal(mine.body.items.length, 1, mine.text);
    await page.getByText(mine.body.items[0].code).waitFor();
  });

  test('when the session ends on the server, then the console says it expired and asks to log in', async () => {
    const cookie = (await watched.context.cookies()).find((entry) => entry.name === 'nuri_refresh');
    assert.ok(cookie);
    // Another device logs this session out: the family is revoked, the page's cookie is dead.
    const login = await client.careful('POST', '/api/v1/auth/login', {
      body: { loginId: person.loginId, password: person.password },
    });
    const revoked = await fetch(`${system.gatewayUrl}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${login.body.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: cookie.value }),
    });
    assert.equal(revoked.status, 204);
    await page
      .getByText('Your session expired. Log in again.')
      .waitFor({ timeout: accessTokenTtlSeconds * 1000 });
    await page.getByLabel('Login ID').waitFor();
  });

  test('when they log in again by keyboard alone and log out, then a reload stays logged out', async () => {
    await page.getByLabel('Login ID').focus();
    await page.keyboard.type(person.loginId);
    await page.keyboard.press('Tab');
    await page.keyboard.type(person.password);
    await page.keyboard.press('Enter');
    const logOut = page.getByRole('button', { name: 'Log out' });
    await logOut.waitFor();
    await logOut.focus();
    await page.keyboard.press('Enter');
    await page.getByLabel('Login ID').waitFor();
    await page.reload();
    await page.getByLabel('Login ID').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Log out' }).count(), 0);
  });

  test('when the password is wrong five times, then the lockout is explained in words', async () => {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await page.getByLabel('Login ID').fill(person.loginId);
      await page.getByLabel('Password').fill('wrong-password-1');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').waitFor();
    }
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'locked for 15 minutes' }).waitFor();
  });

  test('when signing in right after sign-up fails, then the account is kept and Log in signs in without a second sign-up', async () => {
    const newcomer = await open('/#/signup', { expectedErrors: /status of 401/ });
    const person = newPerson();
    let signups = 0;
    newcomer.page.on('request', (request) => {
      if (request.url().endsWith('/api/v1/auth/signup')) signups += 1;
    });
    let dropped = false;
    await newcomer.page.route('**/api/v1/auth/web-session', async (route) => {
      if (dropped) return route.continue();
      dropped = true;
      // The sign-up went through; the sign-in after it never reaches the bank.
      await route.abort('connectionreset');
    });
    await submitSignUp(newcomer.page, person, false);
    await newcomer.page
      .getByRole('status')
      .filter({ hasText: `Your account ${person.loginId} was created` })
      .waitFor();
    await newcomer.page.getByRole('alert').filter({ hasText: 'could not be reached' }).waitFor();
    // Locked to what created the account: an edit could only make a second sign-up, which is refused.
    assert.equal(await newcomer.page.getByLabel('Login ID').getAttribute('readonly'), '');
    await assertAccessible(newcomer.page, 'signup-created-not-signed-in');
    await newcomer.page.getByRole('button', { name: 'Log in' }).click();
    await newcomer.page.getByRole('button', { name: 'Log out' }).waitFor();
    await newcomer.page.unroute('**/api/v1/auth/web-session');
    assert.equal(signups, 1, 'signed up once');
    await newcomer.page.getByText(maskedOf(person.name), { exact: true }).waitFor();
  });

  test('when the page is asked in Korean, then it speaks Korean and keeps ₩ amounts', async () => {
    const korean = await open('/?lang=ko', { expectedErrors: /status of 401/ });
    await korean.page.getByLabel('아이디').waitFor();
    assert.equal(await korean.page.evaluate('document.documentElement.lang'), 'ko');
    await korean.page.getByRole('button', { name: '로그인' }).waitFor();
    await screenshot(korean.page, 'login-ko');
    const fromBrowser = await open('/', { locale: 'ko-KR', expectedErrors: /status of 401/ });
    await fromBrowser.page.getByLabel('비밀번호').waitFor();
  });

  test('then no page logged an unexpected error', () => {
    const errors = pages.flatMap((watchedPage) => watchedPage.errors);
    assert.deepEqual(
      errors.filter((line) => !/status of (401|409|423)|ERR_CONNECTION_RESET|Failed to fetch/.test(line)),
      [],
    );
  });
});
