/**
 * What a signed-in Playwright test costs before it starts: @gatehouse/playwright's sign-in (the
 * real code + PKCE flow over HTTP with the browser context's cookies, the IdP's forms posted
 * without loading them) beside the baseline it replaces, a sign-in driven in Chromium through
 * the SPA's button and the dev IdP's login and consent pages. Same stack, same run, fresh users.
 *
 *   pnpm build && pnpm bench:sign-in [--runs 20]
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from '@playwright/test';
import { startStack } from '@gatehouse/testkit';
import { signInOverHttp, type GatehouseTestUser } from '../packages/playwright/src/sign-in.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Number(values.runs);
const staticDir = resolve(import.meta.dirname, '../apps/web/dist');
if (!existsSync(staticDir)) throw new Error('build the SPA first: pnpm build');

const stack = await startStack({
  staticDir,
  devIdp: { controlApi: true },
  configure: (input) => ({ ...input, testControls: true }),
});
const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
const browser: Browser = await chromium.launch({
  ...(process.env.CHROMIUM_PATH || executablePath
    ? { executablePath: process.env.CHROMIUM_PATH ?? executablePath }
    : {}),
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic'],
});

async function fixtureSignIn(): Promise<number> {
  const context = await browser.newContext();
  try {
    const started = performance.now();
    await signInOverHttp(context.request, stack.origin, { tenant: 'acme' }, { workerIndex: 0 });
    return performance.now() - started;
  } finally {
    await context.close();
  }
}

/** The same fixture for a user who is asked for consent: two more round trips (login, consent). */
async function fixtureSignInWithConsent(): Promise<number> {
  const user = await newUser();
  const context = await browser.newContext();
  try {
    const started = performance.now();
    await signInOverHttp(
      context.request,
      stack.origin,
      { ...user, tenant: 'acme' },
      { workerIndex: 0 },
    );
    return performance.now() - started;
  } finally {
    await context.close();
  }
}

async function newUser(): Promise<GatehouseTestUser> {
  const res = await fetch(`${stack.idp.origin}/__control/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // A person at the IdP's pages sees its consent page too.
    body: JSON.stringify({ realm: '', askConsent: true }),
  });
  return (await res.json()) as GatehouseTestUser;
}

async function pagesSignIn(): Promise<number> {
  const user = await newUser();
  const context = await browser.newContext({ baseURL: stack.origin });
  try {
    const page = await context.newPage();
    const started = performance.now();
    await page.goto('/');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('Username').fill(user.sub);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText(`Signed in as ${user.name}`).waitFor();
    return performance.now() - started;
  } finally {
    await context.close();
  }
}

function describe(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
  return `${label.padEnd(52)} mean ${mean.toFixed(1).padStart(7)} ms   p50 ${p50.toFixed(1).padStart(7)} ms   max ${(sorted.at(-1) ?? 0).toFixed(1).padStart(7)} ms`;
}

try {
  // One of each first, not counted: connections, the SPA's assets, the provider's discovery.
  await fixtureSignIn();
  await fixtureSignInWithConsent();
  await pagesSignIn();
  const fixture: number[] = [];
  const withConsent: number[] = [];
  const pages: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    fixture.push(await fixtureSignIn());
    withConsent.push(await fixtureSignInWithConsent());
    pages.push(await pagesSignIn());
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  process.stdout.write(
    [
      `sign-ins: ${runs} of each, interleaved (load average ${(await import('node:os')).loadavg()[0]?.toFixed(1)})`,
      describe('@gatehouse/playwright (HTTP, real code + PKCE)', fixture),
      describe('  the same, for a user asked for consent', withConsent),
      describe('baseline: Chromium through the SPA and IdP pages', pages),
      `the fixture takes ${((mean(fixture) / mean(pages)) * 100).toFixed(0)} % of the baseline's time`,
      '',
    ].join('\n'),
  );
} finally {
  await browser.close();
  await stack.close();
}
