import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { test, expect } from './fixtures.ts';

/**
 * Every end-user screen at 360 px and 1280 px, light and dark: a screenshot of each (written to
 * e2e/test-results/screens, not committed) and an axe-core check of each with zero serious or
 * critical violations. Plus the flows behind them: cancel at the IdP → "Try again" → signed in,
 * an unknown email domain that keeps the input, the sessions confirmation, an expired sign-in,
 * and the Back button after signing in.
 */

const SCREENS_DIR = resolve(import.meta.dirname, '../test-results/screens');
const VIEWPORTS = [
  { width: 360, height: 740 },
  { width: 1280, height: 860 },
] as const;
const SCHEMES = ['light', 'dark'] as const;

const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

/** Serious and critical axe violations, as readable lines (empty when there are none). */
async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.nodes
          .map((node) => node.target.join(' '))
          .join(', ')}`,
    );
}

/**
 * The current screen at both sizes in both schemes: a full-page screenshot each, and no
 * serious or critical accessibility violation in any of them.
 */
async function checkScreen(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENS_DIR, { recursive: true });
  for (const viewport of VIEWPORTS) {
    await page.setViewportSize(viewport);
    for (const colorScheme of SCHEMES) {
      await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
      await page.screenshot({
        path: resolve(SCREENS_DIR, `${name}-${viewport.width}-${colorScheme}.png`),
        fullPage: true,
      });
      expect(
        await seriousViolations(page),
        `${name} at ${viewport.width} px, ${colorScheme}`,
      ).toEqual([]);
      // No horizontal scrolling at any size.
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, `${name} at ${viewport.width} px scrolls sideways`).toBeLessThanOrEqual(0);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(VIEWPORTS[1]);
}

test.describe('signed out', () => {
  test('home: sign in, or find the organisation by email', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
    await checkScreen(page, 'home-signed-out');
  });

  test('an unknown email domain is said at the field, which keeps what was typed', async ({
    page,
  }) => {
    await page.goto('/');
    const email = page.getByLabel('Work email');
    await email.fill('someone@unknown-domain.example');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByTestId('unknown-domain')).toContainText(
      'No organisation signs in with “unknown-domain.example”',
    );
    await expect(email).toHaveValue('someone@unknown-domain.example');
    await expect(email).toHaveAttribute('aria-invalid', 'true');
    await expect(page).toHaveURL(/\/$/);
    await checkScreen(page, 'home-unknown-domain');
    // Fixing the address goes on to the right organisation's sign-in.
    await email.fill('carol@globex.test');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByLabel('Username')).toBeVisible();
    await checkScreen(page, 'dev-idp-login');
  });

  test('the tenant page, an unknown organisation and a missing page', async ({ page }) => {
    await page.goto('/t/acme');
    await expect(page.getByRole('heading', { name: 'Acme' })).toBeVisible();
    await checkScreen(page, 'tenant-page');
    await page.goto('/t/no-such-organisation');
    await expect(page.getByRole('heading', { name: 'Unknown organisation' })).toBeVisible();
    await checkScreen(page, 'tenant-unknown');
    await page.goto('/no/such/page');
    await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
    await checkScreen(page, 'not-found');
  });
});

test.describe('server pages', () => {
  test('unknown organisation, unknown email domain and a bad return path', async ({ page }) => {
    await page.goto('/bff/login?tenant=no-such-organisation');
    await expect(page.getByRole('heading', { name: 'Unknown organisation' })).toBeVisible();
    await checkScreen(page, 'server-unknown-organisation');
    await page.getByRole('link', { name: 'Go to sign-in' }).click();
    await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();

    await page.goto('/bff/login?email=someone%40unknown-domain.example');
    await expect(
      page.getByRole('heading', { name: 'We do not recognise this email address' }),
    ).toBeVisible();
    await checkScreen(page, 'server-unknown-email-domain');

    await page.goto('/bff/login?tenant=acme&returnTo=%2F%2Fevil.example');
    await expect(
      page.getByRole('heading', { name: 'This sign-in link points elsewhere' }),
    ).toBeVisible();
    await checkScreen(page, 'server-bad-return-path');
  });

  test('cancel at the IdP, then "Try again" signs in and returns to the same page', async ({
    page,
  }) => {
    await page.goto('/sessions');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(page.getByLabel('Username')).toBeVisible();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.getByRole('heading', { name: 'You were not signed in' })).toBeVisible();
    await expect(
      page.getByText('The sign-in was cancelled or the identity provider refused it.'),
    ).toBeVisible();
    // The raw code only inside "Details".
    await expect(page.getByText('login_failed')).toBeHidden();
    await page.getByText('Details').click();
    await expect(page.getByText('login_failed')).toBeVisible();
    await checkScreen(page, 'server-sign-in-cancelled');

    await page.getByRole('link', { name: 'Try again' }).click();
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('button', { name: 'Continue' })).toBeVisible();
    await checkScreen(page, 'dev-idp-consent');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page).toHaveURL(/\/sessions$/);
    await expect(page.getByRole('heading', { name: 'Sessions' })).toBeVisible();
    await expect(page.getByTestId('session-row')).not.toHaveCount(0);
  });

  test('an expired sign-in reads as expired and starts again; Back after signing in goes to the app', async ({
    page,
    stack,
  }) => {
    await page.goto('/');
    const authorization = page.waitForRequest(
      (request) =>
        request.url().startsWith(stack.idpOrigin) &&
        new URL(request.url()).searchParams.has('state'),
    );
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const state = new URL((await authorization).url()).searchParams.get('state') ?? '';
    await expect(page.getByLabel('Username')).toBeVisible();
    // The IdP's page was left open for eleven minutes.
    const aged = await fetch(`${stack.controlUrl}/age-login?state=${encodeURIComponent(state)}`);
    expect(aged.status).toBe(204);
    await page.getByLabel('Username').fill('bob');
    await page.getByLabel('Password').fill('bob');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByRole('heading', { name: 'This sign-in expired' })).toBeVisible();
    await checkScreen(page, 'server-sign-in-expired');

    // "Sign in again" works; then the spent callback URL (the Back button) goes to the app.
    let callbackUrl = '';
    page.on('request', (request) => {
      if (request.url().includes('/bff/callback/')) callbackUrl = request.url();
    });
    await page.getByRole('link', { name: 'Sign in again' }).click();
    // Still signed in at the IdP: only its consent page.
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByText('Signed in as Bob Brown')).toBeVisible();
    expect(callbackUrl).not.toBe('');
    await page.goto(callbackUrl);
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByText('Signed in as Bob Brown')).toBeVisible();
  });
});

test.describe('signed in', () => {
  test.use({ gatehouseUser: { tenant: 'acme', name: 'Pat Playwright' } });

  test('account: who, where, the API and the claims; a failed API call in words', async ({
    page,
    gatehouse,
  }) => {
    await page.goto('/');
    await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
    await expect(page.getByTestId('shell-tenant')).toHaveText('Acme');
    await page.getByRole('button', { name: 'Call API' }).click();
    await expect(page.getByTestId('api-result')).toBeVisible();
    await checkScreen(page, 'account');

    // The user menu.
    await page.getByTestId('user-menu').click();
    await expect(page.getByRole('button', { name: 'Sign out' }).first()).toBeVisible();
    await checkScreen(page, 'account-user-menu');
    await page.keyboard.press('Escape');
    await expect(page.getByTestId('user-menu')).toBeFocused();

    // The store is down: words and a retry, the code only in Details.
    await gatehouse.failStore(5 * 60_000);
    await page.getByRole('button', { name: 'Call API' }).click();
    const failure = page.getByTestId('api-error');
    await expect(failure).toContainText('We cannot reach your session right now.');
    await expect(failure.getByRole('button', { name: 'Try again' })).toBeVisible();
    await expect(failure.getByText('store_unavailable')).toBeHidden();
    await checkScreen(page, 'account-api-error');
  });

  test('the session ended: a banner to sign in again', async ({ page, gatehouse }) => {
    await page.goto('/');
    await expect(page.getByText('Signed in as Pat Playwright')).toBeVisible();
    await gatehouse.expireSession();
    await page.getByRole('button', { name: 'Call API' }).click();
    await expect(page.getByTestId('session-ended')).toBeVisible();
    await checkScreen(page, 'session-ended');
  });
});

test('sessions: devices by name, relative times, and "Sign out everywhere else" asks first', async ({
  browser,
  gatehouse,
}) => {
  const laptop = await browser.newContext();
  const phone = await browser.newContext({ userAgent: IPHONE_UA });
  try {
    const user = await gatehouse.signIn(laptop, { tenant: 'acme', name: 'Sam Sessions' });
    const page = await laptop.newPage();
    await page.goto('/sessions');
    // Only this device: nothing else to end.
    await expect(page.getByTestId('session-row')).toHaveCount(1);
    const endOthers = page.getByRole('button', { name: 'Sign out everywhere else' });
    await expect(endOthers).toBeDisabled();
    await expect(page.getByText('This is your only session.')).toBeVisible();
    await checkScreen(page, 'sessions-only-one');

    await gatehouse.signIn(phone, user);
    await page.reload();
    const rows = page.getByTestId('session-row');
    await expect(rows).toHaveCount(2);
    const current = rows.filter({ hasText: 'This device' });
    await expect(current).toHaveCount(1);
    await expect(current).toContainText('just now');
    await expect(rows.filter({ hasText: 'on iOS 18' })).toHaveCount(1);
    await checkScreen(page, 'sessions');

    // Asks first; Cancel ends nothing.
    await endOthers.click();
    const dialog = page.getByRole('dialog', { name: 'Sign out everywhere else?' });
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText('Your other session will be signed out.');
    await checkScreen(page, 'sessions-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expect(dialog).toBeHidden();
    await expect(rows).toHaveCount(2);

    await endOthers.click();
    await dialog.getByRole('button', { name: 'Sign out other sessions' }).click();
    await expect(page.getByTestId('sessions-notice')).toContainText('Signed out everywhere else');
    await expect(rows).toHaveCount(1);
    await expect(endOthers).toBeDisabled();
  } finally {
    await laptop.close();
    await phone.close();
  }
});
