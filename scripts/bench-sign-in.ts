/**
 * What a signed-in Playwright test costs before it starts: @gatehouse/playwright's sign-in (the
 * real code + PKCE flow over HTTP with a cookie jar of its own, the IdP's forms posted without
 * loading them, the cookies then added to a browser context) beside the same flow through a
 * Playwright request context per sign-in (what the fixture did before) and the baseline it
 * replaces, a sign-in driven in Chromium through
 * the SPA's button and the dev IdP's login and consent pages. Same stack, same run, fresh users.
 *
 *   pnpm build && pnpm bench:sign-in [--runs 20]
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, request as playwrightRequest, type Browser } from '@playwright/test';
import { startStack } from '@gatehouse/testkit';
import { JarClient } from '../packages/playwright/src/http.ts';
import { signInOverHttp, type GatehouseTestUser } from '../packages/playwright/src/sign-in.ts';
import { cleanUpOnExit } from './bench/clean-up.ts';
import { scriptOptions } from './bench/script-options.ts';

const values = scriptOptions(import.meta.url, { runs: { type: 'string', default: '20' } });
const runs = Number(values.runs);
const staticDir = resolve(import.meta.dirname, '../apps/web/dist');
if (!existsSync(staticDir)) throw new Error('build the SPA first: pnpm build');

const cleanUp = cleanUpOnExit();
const stack = await startStack({
  staticDir,
  devIdp: { controlApi: true },
  configure: (input) => ({ ...input, testControls: true }),
});
cleanUp.add(() => stack.close());
const executablePath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
const browser: Browser = await chromium.launch({
  ...(process.env.CHROMIUM_PATH || executablePath
    ? { executablePath: process.env.CHROMIUM_PATH ?? executablePath }
    : {}),
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic'],
});
cleanUp.add(() => browser.close());

/** What `gatehouseUser` does: a jar of its own over pooled connections, then addCookies. */
async function fixtureSignIn(): Promise<number> {
  const context = await browser.newContext();
  try {
    const started = performance.now();
    const jar = new JarClient();
    await signInOverHttp(jar, stack.origin, { tenant: 'acme' }, { workerIndex: 0 });
    await context.addCookies(await jar.cookies());
    return performance.now() - started;
  } finally {
    await context.close();
  }
}

/**
 * What it did before (the named baseline): a Playwright request context per sign-in, its
 * storage state into the browser context, the request context disposed.
 */
async function requestContextSignIn(): Promise<number> {
  const started = performance.now();
  const request = await playwrightRequest.newContext();
  await signInOverHttp(request, stack.origin, { tenant: 'acme' }, { workerIndex: 0 });
  const state = await request.storageState();
  await request.dispose();
  const context = await browser.newContext();
  try {
    await context.addCookies(state.cookies);
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
  await requestContextSignIn();
  await fixtureSignInWithConsent();
  await pagesSignIn();
  const fixture: number[] = [];
  const perContext: number[] = [];
  const withConsent: number[] = [];
  const pages: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    fixture.push(await fixtureSignIn());
    perContext.push(await requestContextSignIn());
    withConsent.push(await fixtureSignInWithConsent());
    pages.push(await pagesSignIn());
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  process.stdout.write(
    [
      `sign-ins: ${runs} of each, interleaved (load average ${(await import('node:os')).loadavg()[0]?.toFixed(1)})`,
      describe('@gatehouse/playwright (HTTP, real code + PKCE)', fixture),
      describe('  before: a request context per sign-in', perContext),
      describe('  the same, for a user asked for consent', withConsent),
      describe('baseline: Chromium through the SPA and IdP pages', pages),
      `the fixture takes ${((mean(fixture) / mean(pages)) * 100).toFixed(0)} % of the baseline's time, ${((mean(fixture) / mean(perContext)) * 100).toFixed(0)} % of a request context's per sign-in`,
      '',
    ].join('\n'),
  );
} finally {
  await cleanUp();
}
