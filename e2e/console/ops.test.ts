import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEventProducer } from '@nuri/platform/kafka/producer';
import type { Browser, Page } from 'playwright-core';
import { kafkaBrokerList, loadCliConfig } from '../../src/cli/config.ts';
import { environmentWithSecrets } from '../../src/cli/secrets.ts';
import { startTestSystem, type TestSystem } from '../harness.ts';
import { BankClient, type Customer, newCustomer, newKey, settledDeposit } from '../workload.ts';
import { accessibilityViolations, launchBrowser, openPage, screenshot, type WatchedPage } from './browser.ts';

// The operator console at /ops in a real Chromium through the gateway of a
// real system: the admin token, every view of issue 17 with real data in it
// (a dead letter a real consumer put there, a campaign a customer drew from),
// and never a customer's unmasked name, RRN or phone on the page.

let system: TestSystem;
let browser: Browser;
let client: BankClient;
let adminToken: string;
let customer: Customer;
let watched: WatchedPage;
let page: Page;

before(async () => {
  system = await startTestSystem();
  client = new BankClient(system.gatewayUrl);
  adminToken = environmentWithSecrets(system.env).NURI_ADMIN_TOKEN!;
  browser = await launchBrowser();
  customer = await newCustomer(client);
  const accepted = await client.careful('POST', `/api/v1/accounts/${customer.accountNo}/deposits`, {
    token: customer.token,
    body: { amount: 5_000 },
    key: newKey('ops'),
  });
  assert.equal(accepted.status, 202, accepted.text);
  await settledDeposit(client, customer, accepted.body.depositId, 60_000);
});

after(async () => {
  await browser?.close();
  await system?.shutdown();
});

function card(name: string) {
  return page.getByRole('region', { name });
}

describe('the operator console', () => {
  test('when a wrong token is given, then it is refused in words and nothing is shown', async () => {
    watched = await openPage(browser, `${system.gatewayUrl}/ops`, { expectedErrors: /status of 403/ });
    page = watched.page;
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'FORBIDDEN' }).waitFor();
    assert.equal(await card('Services and instances').count(), 0);
    await screenshot(page, 'ops-sign-in');
    assert.deepEqual(await accessibilityViolations(page), []);
  });

  test('when the admin token is given, then every service shows its ready instances', async () => {
    await page.getByLabel('Admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const services = card('Services and instances');
    for (const name of ['gateway', 'channel-user', 'point', 'coupon', 'core-user', 'core-payment'])
      await services.locator(`tr[data-service="${name}"] td.ok`).waitFor();
    assert.match((await services.textContent()) ?? '', /pid \d+/);
  });

  test('then Kafka lag per group and topic and each outbox backlog are shown', async () => {
    const kafka = card('Kafka and outboxes');
    await kafka
      .getByRole('cell', { name: /deposit\.requested/ })
      .first()
      .waitFor();
    await kafka.getByRole('cell', { name: 'core-payment', exact: true }).waitFor();
    assert.equal(await kafka.getByText('The Kafka broker is unreachable.').count(), 0);
  });

  test('when a consumer dead-letters a message, then it is listed and replayed once from the console', async () => {
    const prefix = system.env.NURI_KAFKA_TOPIC_PREFIX ?? '';
    const producer = createEventProducer({
      brokers: kafkaBrokerList(loadCliConfig(system.env)),
      clientId: 'e2e-ops',
    });
    try {
      await producer.sendRaw([
        { topic: `${prefix}deposit.requested`, key: '110-234-567890', value: '{"not json' },
      ]);
    } finally {
      await producer.close();
    }
    const letters = card('Dead letters');
    // The list refreshes every 15 s; reload the page's data by signing in again rather than wait.
    for (let attempt = 0; attempt < 20; attempt += 1) {
      if ((await letters.getByRole('button', { name: /^Replay .*deposit\.requested\.dlq/ }).count()) > 0)
        break;
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Admin token').fill(adminToken);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForTimeout(1_000);
    }
    const first = card('Dead letters')
      .getByRole('button', { name: /^Replay .*deposit\.requested\.dlq/ })
      .first();
    await first.waitFor();
    // The letter by its ref: replayed, the bad message comes back as a new letter with a ref of its own.
    const label = (await first.getAttribute('aria-label')) ?? '';
    const letter = card('Dead letters').getByRole('button', { name: label, exact: true });
    await letter.click();
    await card('Dead letters').getByText('Replayed 1, skipped 0').waitFor();
    await letter.click();
    await card('Dead letters').getByText('Replayed 0, skipped 1').waitFor();
  });

  test('then payments by status are counted', async () => {
    const paid = await client.careful('POST', '/api/v1/payments', {
      token: customer.token,
      body: { accountNo: customer.accountNo, cashAmount: 1_000, pointAmount: 0 },
      key: newKey('ops-pay'),
    });
    assert.equal(paid.status, 202, paid.text);
    await card('Payments')
      .getByText(/COMPLETED: [1-9]/)
      .waitFor({ timeout: 30_000 });
  });

  test('when reconciliation is run, then the books agree', async () => {
    await card('Reconciliation').getByRole('button', { name: 'Run reconciliation' }).click();
    await card('Reconciliation').getByText('The books agree.').waitFor({ timeout: 30_000 });
  });

  test('when a campaign is created, then its stock is shown and follows issues live', async () => {
    const campaigns = card('Coupon campaigns');
    const name = `Ops ${newKey('c').slice(-6)}`;
    await campaigns.getByLabel('Campaign name').fill(name);
    await campaigns.getByLabel('Quantity').fill('5');
    await campaigns.getByRole('button', { name: 'Create campaign' }).click();
    await campaigns.getByText(`Created ${name}`).waitFor();
    const row = campaigns.getByRole('row', { name: new RegExp(name) });
    await row.getByText('5 / 5').waitFor();
    const listed = await client.careful('GET', '/api/v1/coupon-campaigns', { token: customer.token });
    const campaign = listed.body.items.find((item: { name: string }) => item.name === name);
    assert.ok(campaign, listed.text);
    const issued = await client.careful('POST', `/api/v1/coupon-campaigns/${campaign.campaignId}/issue`, {
      token: customer.token,
    });
    assert.equal(issued.status, 201, issued.text);
    await row.getByText('4 / 5').waitFor({ timeout: 10_000 });
  });

  test('then rate-limit refusals are listed per limiter', async () => {
    await card('Rate-limit refusals')
      .getByText(/^login: \d+/)
      .waitFor();
    await screenshot(page, 'ops');
    assert.deepEqual(await accessibilityViolations(page), []);
  });

  test('then the page never shows the customer’s name, RRN or phone, and logged no unexpected error', async () => {
    const text = (await page.textContent('body')) ?? '';
    for (const secret of [customer.person.name, customer.person.rrn, customer.person.phone])
      assert.equal(text.includes(secret), false, 'unmasked PII on /ops');
    assert.deepEqual(
      watched.errors.filter((line) => !/status of 403/.test(line)),
      [],
    );
  });
});
