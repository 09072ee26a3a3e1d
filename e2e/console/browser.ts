// A real Chromium for the console's tests: Debian's `chromium` package driven
// by playwright-core (no browser download). Each page records its console
// errors and failed requests so a test can assert there were none.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { rootDir } from '../../src/cli/paths.ts';

const candidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The browser to drive: NURI_CHROMIUM, else the first installed candidate; undefined when none. */
export function chromiumPath(): string | undefined {
  const chosen = process.env.NURI_CHROMIUM;
  if (chosen !== undefined && chosen !== '') return chosen;
  return candidates.find((path) => existsSync(path));
}

export const artifactsDir = join(rootDir, 'test-artifacts', 'console');

export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined)
    throw new Error(
      'no Chromium: install Debian’s chromium package (apt-get install chromium) or set NURI_CHROMIUM',
    );
  await mkdir(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath,
    headless: true,
    // Root in a container or VM has no user namespace sandbox to give.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** console.error lines and uncaught page errors. */
  errors: string[];
}

export async function openPage(
  browser: Browser,
  url: string,
  options: { locale?: string; expectedErrors?: RegExp } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({
    locale: options.locale ?? 'en-US',
    timezoneId: 'Europe/London',
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // A failed request is logged by the browser as a console error; the ones
    // a test provokes on purpose (a 409, a 401) are expected, others are not.
    if (options.expectedErrors?.test(text)) return;
    errors.push(text);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  await page.goto(url);
  return { page, context, errors };
}

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical findings on the page as it is now. */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern
  // (a <script> tag with axe inline would rightly be refused).
  await page.evaluate(await axeSource);
  const result = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] })`)) as {
    violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown }> }>;
  };
  return result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.impact} ${violation.id}: ${violation.help} at ${violation.nodes
          .slice(0, 3)
          .map((node) => JSON.stringify(node.target))
          .join(', ')}`,
    );
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true });
}
