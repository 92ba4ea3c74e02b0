import type { Page } from '@playwright/test';
import { test, expect } from './fixtures.ts';

const SSO_SECRET = 'dev-only-globex-sso-secret';

/** Finishes the dev IdP's login and consent pages. */
async function devIdpLogin(page: Page, login: string): Promise<void> {
  await page.getByLabel('Username').fill(login);
  await page.getByLabel('Password').fill(login);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

async function signInByEmail(page: Page, email: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
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

test.describe.serial('tenants bring their own IdP', () => {
  test('a globex admin registers a provider in the console', async ({ page, stack, gatehouse }) => {
    // A tenant admin of globex, made for this test: the admin rule is `roles` ∋ gatehouse-admin.
    await gatehouse.signIn(page, {
      tenant: 'globex',
      name: 'Carol Chen',
      roles: ['gatehouse-admin'],
    });
    await page.goto('/');
    await expect(page.getByText('Signed in as Carol Chen')).toBeVisible();

    await page.getByRole('link', { name: 'Admin console' }).click();
    await expect(page.getByRole('heading', { name: 'Admin console' })).toBeVisible();
    await expect(page.getByTestId('provider-row')).toHaveCount(1); // the static `dev` provider

    // A hostile issuer is refused with a clear message and nothing is saved.
    await page.getByLabel('Provider ID').fill('evil');
    await page.getByLabel('Display name').fill('Evil');
    await page.getByLabel('Issuer').fill('http://169.254.169.254/latest');
    await page.getByLabel('Client ID').fill('x');
    await page.getByLabel('Client secret').fill('x-secret');
    await page.getByRole('button', { name: 'Save provider' }).click();
    await expect(
      page.getByTestId('field-error-issuer').or(page.getByTestId('provider-error')),
    ).toBeVisible();
    await expect(page.getByTestId('provider-row')).toHaveCount(1);

    await page.getByLabel('Provider ID').fill('sso');
    await page.getByLabel('Display name').fill('Globex SSO');
    await page.getByLabel('Issuer').fill(`${stack.idpOrigin}/globex`);
    await page.getByLabel('Client ID').fill('gatehouse-globex-sso');
    await page.getByLabel('Client secret').fill(SSO_SECRET);
    await page.getByText('Scopes and parameters').click();
    await page.getByLabel('Extra parameters').fill('prompt=consent');
    await page.getByRole('button', { name: 'Save provider' }).click();

    const row = page.locator('[data-testid="provider-row"][data-provider-id="sso"]');
    await row.getByText('Addresses to register at the provider').click();
    await expect(row.getByTestId('row-redirect-uri')).toContainText(
      `${stack.baseURL}/bff/callback/globex/sso`,
    );
    await expect(row.getByTestId('row-backchannel-uri')).toContainText(
      `${stack.baseURL}/bff/backchannel-logout/globex/sso`,
    );
    await expect(row).toContainText('••••••');
    await expect(page.locator('body')).not.toContainText(SSO_SECRET);

    await row.getByRole('button', { name: 'Test', exact: true }).click();
    await expect(row.getByTestId('provider-test-result')).toContainText('checks passed');
  });

  test('a globex user signs in through it by typing their email, and a gatehouse-mode call reaches the demo API', async ({
    page,
    stack,
  }) => {
    await signInByEmail(page, 'dave@globex.test');
    // Two providers now: the tenant page lets dave choose.
    await expect(page.getByRole('heading', { name: 'Globex' })).toBeVisible();
    await page.getByRole('button', { name: 'Sign in with Globex SSO' }).click();
    await devIdpLogin(page, 'dave');
    await expect(page.getByText('Signed in as Dave Diaz')).toBeVisible();
    await expect(page.getByTestId('provider')).toContainText('sso');

    const { status, body } = await callFromPage(page, '/api/globex-only/me');
    expect(status).toBe(200);
    const claims = body.claims as Record<string, unknown>;
    expect(claims.iss).toBe(stack.baseURL);
    expect(claims.aud).toBe('urn:gatehouse:demo-api');
    expect(claims.tenant).toBe('globex');
    expect(claims.provider).toBe('sso');
    expect(claims.idp_sub).toBe('dave');
    expect(claims.sub).not.toBe('dave'); // tenant-scoped subject, not the IdP's raw sub
  });

  test('an acme admin is refused on a globex-only route', async ({ page, gatehouse }) => {
    await gatehouse.signIn(page, { tenant: 'acme', roles: ['gatehouse-admin'] });
    await page.goto('/');
    await expect(page.getByTestId('tenant')).toHaveText('acme');
    const { status, body } = await callFromPage(page, '/api/globex-only/me');
    expect(status).toBe(403);
    expect(body.code).toBe('tenant_not_allowed');
    // Nor may an acme admin administer globex.
    const admin = await page.evaluate(async () => {
      const res = await fetch('/admin/api/tenants/globex/providers', {
        headers: { 'X-CSRF': '1' },
      });
      return res.status;
    });
    expect(admin).toBe(403);
  });
});
