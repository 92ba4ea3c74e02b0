import type { Page } from '@playwright/test';
import { test, expect } from './fixtures.ts';

/**
 * @gatehouse/playwright's fixtures against the real stack: each test starts signed in as a
 * fresh user (through the dev IdP's code + PKCE flow, without its pages) and drives its own
 * session's lifecycle with the test controls.
 */
test.use({
  gatehouseUser: {
    tenant: 'acme',
    sub: 'lifecycle',
    name: 'Pat Playwright',
    email: 'pat@acme.test',
    claims: { given_name: 'Pat', department: 'quality' },
  },
});

/** "Call API" in the SPA; the demo API's answer (the access token's claims) as JSON. */
async function callApi(page: Page): Promise<{ status: number; claims?: Record<string, unknown> }> {
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/demo/me'));
  await page.getByRole('button', { name: 'Call API' }).click();
  const response = await answer;
  const body = (await response.json()) as { claims?: Record<string, unknown> };
  return { status: response.status(), ...(body.claims ? { claims: body.claims } : {}) };
}

test('starts signed in as its own user of the asked shape, shown by the SPA', async ({
  page,
  gatehouse,
}) => {
  const user = gatehouse.user!;
  expect(user.sub).toMatch(/^lifecycle-w\d+-/);
  await page.goto('/');
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
  await expect(page.getByTestId('user-email')).toHaveText('pat@acme.test');
  await expect(page.getByTestId('tenant')).toHaveText('acme');
  await expect(page.getByTestId('claims')).toContainText(user.sub);
  await expect(page.getByTestId('claims')).toContainText('Pat');
  const { status, claims } = await callApi(page);
  expect(status).toBe(200);
  expect(claims?.sub).toBe(user.sub);
  expect(claims?.department).toBe('quality'); // a custom claim, in the access token
});

test('expireAccessToken: the next API call refreshes the token', async ({ page, gatehouse }) => {
  await page.goto('/');
  const first = await callApi(page);
  const again = await callApi(page);
  expect(again.claims?.jti).toBe(first.claims?.jti); // same token while it is valid

  await gatehouse.expireAccessToken();
  const refreshed = await callApi(page);
  expect(refreshed.status).toBe(200);
  expect(refreshed.claims?.jti).not.toBe(first.claims?.jti);
  expect(refreshed.claims?.sub).toBe(gatehouse.user!.sub);
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
});

test('expireSession: the app shows the user signed out', async ({ page, gatehouse }) => {
  await page.goto('/');
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
  await gatehouse.expireSession();
  expect((await callApi(page)).status).toBe(401);
  await expect(page.getByTestId('session-ended')).toBeVisible();
  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
});

test('backchannelLogout: the IdP ends the session and the app shows it on its next call', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
  await gatehouse.backchannelLogout();
  expect((await callApi(page)).status).toBe(401);
  await expect(page.getByTestId('session-ended')).toBeVisible();
  await page.reload();
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
});

test('revokeAtIdp: the next refresh is refused by the IdP and the session ends', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await gatehouse.revokeAtIdp();
  expect((await callApi(page)).status).toBe(200); // the access token is still good
  await gatehouse.expireAccessToken();
  expect((await callApi(page)).status).toBe(401);
  await expect(page.getByTestId('session-ended')).toBeVisible();
});

test('failStore: the SPA shows its error and keeps the user signed in', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
  await gatehouse.failStore(60_000);
  expect((await callApi(page)).status).toBe(503);
  await expect(page.getByTestId('api-error')).toContainText('store_unavailable');
  // A store outage is not a sign-out.
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
  await expect(page.getByTestId('session-ended')).toBeHidden();
});

test('failIdp: a call that needs a refresh shows the SPA’s error; the session is kept', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await gatehouse.failIdp(60_000);
  await gatehouse.expireAccessToken();
  expect((await callApi(page)).status).toBe(502);
  await expect(page.getByTestId('api-error')).toContainText('idp_unavailable');
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
});

test.describe('without a gatehouseUser', () => {
  test.use({ gatehouseUser: undefined });

  test('the controls say clearly that there is no session to act on', async ({ gatehouse }) => {
    expect(gatehouse.user).toBeUndefined();
    await expect(gatehouse.expireSession()).rejects.toThrow('no live Gatehouse session');
    await expect(gatehouse.backchannelLogout()).rejects.toThrow('no user was signed in');
    await expect(gatehouse.failStore(0)).rejects.toThrow('ms must be an integer');
  });
});

test('signIn again in the same context replaces the session (a new id), same user', async ({
  page,
  context,
  gatehouse,
}) => {
  const first = gatehouse.user!;
  const before = (await context.cookies(gatehouse.baseURL)).find((c) => c.name === 'gatehouse');
  // The context holds the dev IdP's session from the first sign-in: only consent is asked.
  const again = await gatehouse.signIn(page, first);
  expect(again.sub).toBe(first.sub);
  const after = (await context.cookies(gatehouse.baseURL)).find((c) => c.name === 'gatehouse');
  expect(after?.value).not.toBe(before?.value);
  await page.goto('/sessions');
  // Gatehouse gives every sign-in a new session id and ends the one the browser had.
  await expect(page.getByTestId('session-row')).toHaveCount(1);
  await page.goto('/');
  await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
});
