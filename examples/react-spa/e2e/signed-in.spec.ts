/**
 * The app's suite as a team writes it with @gatehouse/playwright: every test starts signed in
 * as a fresh user of the shape below (the real code + PKCE flow, without the IdP's pages), and
 * the `gatehouse` fixture brings the session's expiry, a token expiry or a back-channel logout
 * forward, so the tests check what the app does then.
 */
import { test, expect } from '@gatehouse/playwright';
import type { Page } from '@playwright/test';

test.use({
  gatehouseUser: { tenant: 'acme', sub: 'reader', name: 'Robin Reader', email: 'robin@acme.test' },
});

/** Clicks "Call the API" and returns the demo API's answer: status and the token's claims. */
async function callApi(page: Page): Promise<{ status: number; sub?: string; jti?: unknown }> {
  const answer = page.waitForResponse((response) => response.url().endsWith('/api/demo/me'));
  await page.getByRole('button', { name: 'Call the API' }).click();
  const response = await answer;
  const body = (await response.json()) as { sub?: string; claims?: { jti?: unknown } };
  return {
    status: response.status(),
    ...(body.sub !== undefined ? { sub: body.sub } : {}),
    ...(body.claims ? { jti: body.claims.jti } : {}),
  };
}

async function expectSignedOut(page: Page, message: string): Promise<void> {
  await expect(page.getByTestId('signed-in')).toBeHidden();
  await expect(page.getByTestId('signed-out-reason')).toHaveText(message);
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
}

test('shows the signed-in user from the fixture', async ({ page, gatehouse }, testInfo) => {
  // A fresh user of its own: the subject carries this worker's index and a random part.
  expect(gatehouse.user?.sub).toMatch(new RegExp(`^reader-w${testInfo.workerIndex}-`));
  await page.goto('/');
  await expect(page.getByTestId('user-name')).toHaveText('Robin Reader');
  await expect(page.getByTestId('user-email')).toHaveText('robin@acme.test');
  await expect(page.getByTestId('user-tenant')).toHaveText('acme');
});

test('calls the demo API through Gatehouse as the user', async ({ page, gatehouse }) => {
  await page.goto('/');
  const { status, sub } = await callApi(page);
  expect(status).toBe(200);
  expect(sub).toBe(gatehouse.user?.sub);
  await expect(page.getByTestId('api-status')).toHaveText('GET /api/demo/me answered 200');
  await expect(page.getByTestId('api-result')).toContainText(`"sub": "${gatehouse.user?.sub}"`);
});

test('an expired access token is refreshed on the next API call', async ({ page, gatehouse }) => {
  await page.goto('/');
  const first = await callApi(page);
  expect(first.status).toBe(200);
  await gatehouse.expireAccessToken();
  const next = await callApi(page);
  expect(next.status).toBe(200);
  expect(next.sub).toBe(gatehouse.user?.sub);
  expect(next.jti).not.toBe(first.jti); // a new access token, from the refresh
  await expect(page.getByTestId('user-name')).toHaveText('Robin Reader');
});

test('an expired session: the next API call shows the signed-out state', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('user-name')).toHaveText('Robin Reader');
  await gatehouse.expireSession();
  expect((await callApi(page)).status).toBe(401);
  await expectSignedOut(page, 'Your session has ended. Sign in again to go on.');
});

test('an expired session: a session check shows the signed-out state', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('user-name')).toHaveText('Robin Reader');
  await gatehouse.expireSession();
  await page.getByRole('button', { name: 'Check my session' }).click();
  await expectSignedOut(page, 'Your session has ended. Sign in again to go on.');
});

test('a back-channel logout: the next API call shows the signed-out state', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('user-name')).toHaveText('Robin Reader');
  await gatehouse.backchannelLogout();
  expect((await callApi(page)).status).toBe(401);
  await expectSignedOut(page, 'You are no longer signed in.');
});

test('a back-channel logout: a session check shows the signed-out state', async ({
  page,
  gatehouse,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('user-name')).toHaveText('Robin Reader');
  await gatehouse.backchannelLogout();
  await page.getByRole('button', { name: 'Check my session' }).click();
  await expectSignedOut(page, 'You are no longer signed in.');
  await page.reload(); // and it stays signed out
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
});
