import type { Page } from '@playwright/test';
import { test, expect, serverSideTokens, JWT_PATTERN } from './fixtures.ts';

/** What e2e/stack.ts tells about its glewlwyd (the OP, its client for Gatehouse and its user). */
interface GlewlwydInfo {
  origin: string;
  issuer: string;
  tenant: string;
  provider: string;
  /** The RFC 8707 resource the demo API behind `/api/glewlwyd-demo` accepts glewlwyd tokens for. */
  resource: string;
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
  name: string;
}

/**
 * glewlwyd's pages are a 400 kB script that renders after a few API calls: generous waits for a
 * busy 2-core machine (they end as soon as the page is there).
 */
const GLEWLWYD_PAGE_MS = 30_000;

function glewlwydInfo(): GlewlwydInfo {
  const raw = process.env.E2E_GLEWLWYD;
  if (!raw) throw new Error('global-setup did not run');
  return JSON.parse(raw) as GlewlwydInfo;
}

/** Calls an API route from inside the page, as the SPA would. */
async function callFromPage(
  page: Page,
  path: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return page.evaluate(async (target) => {
    const res = await fetch(target, { headers: { 'X-CSRF': '1' } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }, path);
}

/** glewlwyd's own login webapp: password, then the scopes to grant, then "Continue". */
async function signInAtGlewlwyd(page: Page, op: GlewlwydInfo): Promise<void> {
  await expect(page).toHaveURL(new RegExp(`^${op.origin}/login\\.html\\?`), {
    timeout: GLEWLWYD_PAGE_MS,
  });
  await page.getByLabel('Login').fill(op.username);
  await page.getByLabel('Password').fill(op.password);
  await page.getByRole('button', { name: 'OK' }).click();
  // First sign-in for this client: glewlwyd asks the user to grant the optional scopes.
  await expect(page.getByRole('heading', { name: `Hello ${op.name}` })).toBeVisible({
    timeout: GLEWLWYD_PAGE_MS,
  });
  for (const scope of ['profile', 'email', 'offline_access']) {
    await page.getByRole('checkbox', { name: scope }).check();
  }
  await page.getByRole('button', { name: 'Grant access' }).click();
  await expect(page.getByRole('checkbox', { name: 'offline_access' })).toBeHidden({
    timeout: GLEWLWYD_PAGE_MS,
  });
  await page.getByRole('button', { name: 'Continue' }).click();
}

test.describe.serial('glewlwyd, a real third-party OpenID Provider', () => {
  const op = glewlwydInfo();
  // Two sign-ins, a refresh and an end-session through a real OP's pages.
  test.describe.configure({ timeout: 120_000 });

  test('a tenant admin registers glewlwyd through the console with client_secret_post', async ({
    page,
    gatehouse,
    stack,
  }) => {
    // A tenant admin of `lab` (the admin rule: `roles` ∋ gatehouse-admin), signed in through the
    // tenant's dev IdP.
    await gatehouse.signIn(page, {
      tenant: op.tenant,
      name: 'Lena Lab',
      roles: ['gatehouse-admin'],
    });
    await page.goto('/');
    await expect(page.getByText('Signed in as Lena Lab')).toBeVisible();
    await page.getByRole('link', { name: /admin console/i }).click();
    await expect(page.getByRole('heading', { name: /admin console/i })).toBeVisible();

    // Fields by their accessible names only (the console's layout may change): optional ones may
    // sit in a collapsed <details>, opened as a user would.
    const field = (name: RegExp) => page.getByRole('textbox', { name });
    await field(/^provider id/i).fill(op.provider);
    await field(/^issuer/i).fill(op.issuer);
    await field(/^client id/i).fill(op.clientId);
    await field(/^client secret/i).fill(op.clientSecret);
    await page
      .getByRole('combobox', { name: /auth(entication)? method/i })
      .selectOption('client_secret_post');
    for (const summary of await page.locator('form details:not([open]) > summary').all()) {
      await summary.click();
    }
    await field(/^display name/i).fill('Glewlwyd');
    // The login asks for the demo API's resource (RFC 8707): glewlwyd's tokens then name it.
    await field(/^extra parameters/i).fill(`resource=${op.resource}`);

    // The issuer exactly as glewlwyd names itself: with a trailing `/` (a common slip, and
    // glewlwyd's own `external_url` trap) its discovery answers another issuer, and nothing is saved.
    await field(/^issuer/i).fill(`${op.issuer}/`);
    await page.getByRole('button', { name: /save provider/i }).click();
    await expect(
      page.getByTestId('field-error-issuer').or(page.getByTestId('provider-error')),
    ).toBeVisible({ timeout: GLEWLWYD_PAGE_MS });
    const row = page.locator(`[data-testid="provider-row"][data-provider-id="${op.provider}"]`);
    await expect(row).toHaveCount(0);

    await field(/^issuer/i).fill(op.issuer);
    await page.getByRole('button', { name: /save provider/i }).click();

    // Saved (every check passed, glewlwyd's answer to the credentials check included): the
    // provider's card lists the addresses registered at glewlwyd.
    await expect(row).toBeVisible({ timeout: GLEWLWYD_PAGE_MS });
    await row.getByText('Addresses to register at the provider').click();
    await expect(row.getByTestId('row-redirect-uri')).toHaveText(
      `${stack.baseURL}/bff/callback/${op.tenant}/${op.provider}`,
    );
    await expect(row).toContainText(op.issuer);
    await expect(page.locator('body')).not.toContainText(op.clientSecret);
  });

  test('a user signs in at glewlwyd, calls the API, gets a refreshed token and signs out at glewlwyd', async ({
    page,
    stack,
    gatehouse,
  }) => {
    const bodies: Array<{ url: string; text: string }> = [];
    page.on('response', (response) => {
      void response.text().then(
        (text) => bodies.push({ url: response.url(), text }),
        () => undefined, // redirects have no body
      );
    });

    // Two providers in `lab` now: the tenant page lets the user choose.
    await page.goto(`/t/${op.tenant}`);
    await page.getByRole('button', { name: 'Sign in with Glewlwyd' }).click();
    await signInAtGlewlwyd(page, op);
    await expect(page.getByText(`Signed in as ${op.name}`)).toBeVisible({
      timeout: GLEWLWYD_PAGE_MS,
    });
    await expect(page.getByTestId('tenant')).toHaveText(op.tenant);
    await expect(page.getByTestId('provider')).toContainText(op.provider);

    // The user's own glewlwyd access token reaches an API that trusts only glewlwyd.
    const first = await callFromPage(page, '/api/glewlwyd-demo/me');
    expect(first.status).toBe(200);
    const firstClaims = first.body.claims as Record<string, unknown>;
    expect(first.body.iss).toBe(op.issuer);
    expect(first.body.aud).toBe(op.resource);
    expect(firstClaims.client_id).toBe(op.clientId);
    expect(firstClaims.jti).toEqual(expect.any(String));

    // The access token counts as expired: the next call makes Gatehouse refresh at glewlwyd
    // (refresh_token grant, client_secret_post) and sends the new token.
    await gatehouse.expireAccessToken(page);
    const second = await callFromPage(page, '/api/glewlwyd-demo/me');
    expect(second.status).toBe(200);
    const secondClaims = second.body.claims as Record<string, unknown>;
    expect(second.body.sub).toBe(first.body.sub);
    expect(second.body.aud).toBe(op.resource);
    expect(secondClaims.jti).not.toBe(firstClaims.jti);

    // Nothing Gatehouse holds for this session ever reached the browser.
    const tokens = await serverSideTokens(stack.controlUrl);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    for (const { url, text } of bodies) {
      if (!url.startsWith(stack.baseURL)) continue;
      expect(text).not.toMatch(JWT_PATTERN);
      for (const token of tokens) expect(text.includes(token)).toBe(false);
    }

    // Sign-out goes through glewlwyd's end-session endpoint, where the user confirms.
    const endSessionRequests: URL[] = [];
    page.on('request', (request) => {
      if (request.url().startsWith(`${op.issuer}/end_session`)) {
        endSessionRequests.push(new URL(request.url()));
      }
    });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(new RegExp(`^${op.origin}/login\\.html\\?`), {
      timeout: GLEWLWYD_PAGE_MS,
    });
    await expect(page.getByRole('heading', { name: 'End session' })).toBeVisible({
      timeout: GLEWLWYD_PAGE_MS,
    });
    await expect(page.getByRole('heading', { name: /you will be redirected to/ })).toContainText(
      stack.baseURL,
    );
    expect(endSessionRequests).toHaveLength(1);
    const endSession = endSessionRequests[0]!;
    expect(endSession.searchParams.get('client_id')).toBe(op.clientId);
    expect(endSession.searchParams.get('post_logout_redirect_uri')?.startsWith(stack.baseURL)).toBe(
      true,
    );
    await page.getByRole('button', { name: 'Logout' }).click();
    // glewlwyd sends the browser back to the post-logout redirect URI only when the end-session
    // request carries a `state`; without one its page stays on "Session closed".
    if (endSession.searchParams.has('state')) {
      await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible({
        timeout: GLEWLWYD_PAGE_MS,
      });
      expect(page.url().startsWith(stack.baseURL)).toBe(true);
    } else {
      await expect(page.getByRole('heading', { name: 'You are disconnected' })).toBeVisible({
        timeout: GLEWLWYD_PAGE_MS,
      });
    }
    const user = await page.request.get('/bff/user');
    expect(user.status()).toBe(401);

    // The session at glewlwyd ended too: signing in again asks for the password.
    await page.goto(`/t/${op.tenant}`);
    await page.getByRole('button', { name: 'Sign in with Glewlwyd' }).click();
    await expect(page).toHaveURL(new RegExp(`^${op.origin}/login\\.html\\?`), {
      timeout: GLEWLWYD_PAGE_MS,
    });
    await expect(page.getByLabel('Password')).toBeVisible({ timeout: GLEWLWYD_PAGE_MS });
  });
});
