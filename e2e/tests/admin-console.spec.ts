import { fileURLToPath } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { DEV_CLIENTS } from '@gatehouse/dev-idp';
import { expect, signInThroughDevIdp, test } from './fixtures.ts';

/**
 * The tenant admin console as a guided flow, in Chromium against the real stack: alice, an
 * acme admin in the dev IdP, registers a provider with the URIs shown before any credential,
 * tests sign-in in a popup without touching her own session, and uses every tab.
 */

/** Beside the other Playwright output, whatever directory the run starts in. */
const SCREENS = fileURLToPath(new URL('../test-results/screens', import.meta.url));
const TABS = ['Providers', 'API keys', 'Sessions', 'Audit'] as const;

async function signInAsAlice(page: Page): Promise<void> {
  await page.goto('/');
  await signInThroughDevIdp(page, 'alice');
  await expect(page.getByText('Signed in as Alice Anderson')).toBeVisible();
  await page.goto('/admin');
  await expect(page.getByTestId('admin-identity')).toContainText('tenant administrator');
}

async function noSeriousViolations(page: Page, where: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter(
    (violation) => violation.impact === 'serious' || violation.impact === 'critical',
  );
  expect(
    serious.map(
      (violation) => `${violation.id}: ${violation.nodes.map((n) => n.target).join(' ')}`,
    ),
    where,
  ).toEqual([]);
}

test.describe.serial('the admin console', () => {
  test('registers a provider from a profile, with the URIs shown before any credential', async ({
    page,
    stack,
  }) => {
    await signInAsAlice(page);
    await expect(page.getByRole('tab', { name: 'Providers' })).toHaveAttribute(
      'aria-selected',
      'true',
    );
    await page.getByRole('radio', { name: /Generic OpenID Connect/ }).check();
    await expect(page.getByTestId('uris-waiting')).toBeVisible();
    await page.getByLabel('Provider ID').fill('corp-sso');
    // The URIs come before the issuer, client id or secret exist.
    await expect(page.getByTestId('redirect-uri')).toHaveText(
      `${stack.baseURL}/bff/callback/acme/corp-sso`,
    );
    await expect(page.getByTestId('post-logout-uri')).toHaveText(`${stack.baseURL}/bff/signed-out`);
    await expect(page.getByTestId('backchannel-uri')).toHaveText(
      `${stack.baseURL}/bff/backchannel-logout/acme/corp-sso`,
    );
    await expect(page.getByTestId('jwks-uri')).toHaveCount(0);
    await expect(page.getByLabel('Issuer')).toHaveValue('');
    await page.getByLabel('Token endpoint auth method').selectOption('private_key_jwt');
    await expect(page.getByTestId('jwks-uri')).toHaveText(
      `${stack.baseURL}/bff/jwks/acme/corp-sso`,
    );
    await page.getByLabel('Token endpoint auth method').selectOption('client_secret_post');

    await page.getByLabel('Issuer').fill(stack.idpOrigin);
    await page.getByLabel('Client ID').fill('gatehouse-acme');
    // The dev IdP's real client: saving runs every check, the credentials too.
    await page.getByLabel('Client secret').fill(DEV_CLIENTS.acme.clientSecret);
    await page.getByRole('button', { name: 'Save provider' }).click();
    await expect(page.getByTestId('admin-notice')).toContainText('Saved corp-sso');

    const card = page.locator('[data-testid="provider-row"][data-provider-id="corp-sso"]');
    await expect(card).toContainText('••••••');
    await card.getByText('Addresses to register at the provider').click();
    await expect(card.getByTestId('row-redirect-uri')).toHaveText(
      `${stack.baseURL}/bff/callback/acme/corp-sso`,
    );
    await expect(card.getByTestId('row-post-logout-uri')).toBeVisible();
    await expect(card.getByTestId('row-backchannel-uri')).toBeVisible();
    await expect(page.locator('body')).not.toContainText(DEV_CLIENTS.acme.clientSecret);
    await card.getByRole('button', { name: 'Delete' }).click();
    await card.getByRole('button', { name: 'Confirm delete' }).click();
    await expect(card).toHaveCount(0);
  });

  test('shows a failed check next to the field it concerns', async ({ page, stack }) => {
    await signInAsAlice(page);
    // The real checks against the dev IdP: its client exists, the secret is wrong.
    await page.getByLabel('Provider ID').fill('wrong-secret');
    await page.getByLabel('Issuer').fill(stack.idpOrigin);
    await page.getByLabel('Client ID').fill('gatehouse-acme');
    await page.getByLabel('Client secret').fill('wrong');
    await page.getByRole('button', { name: 'Test these settings' }).click();
    const atSecret = page.getByTestId('field-check-clientSecret');
    await expect(atSecret).toHaveAttribute('data-ok', 'false');
    await expect(atSecret).toContainText('rejected the client credentials');
    await expect(page.getByLabel('Client secret')).toHaveAttribute('aria-invalid', 'true');
    // Every check at the issuer field passed (scheme, discovery, exact issuer).
    const atIssuer = page.getByTestId('field-check-issuer');
    await expect(atIssuer).toHaveCount(3);
    for (const check of await atIssuer.all())
      await expect(check).toHaveAttribute('data-ok', 'true');
    await expect(page.getByTestId('provider-checks')).toContainText(/\b1 of \d+ checks failed/);
    await expect(page.getByLabel('Client secret')).toBeFocused();
  });

  test("tests sign-in in a popup and leaves the admin's own session as it was", async ({
    page,
    context,
  }) => {
    await signInAsAlice(page);
    const sessionBefore = await page.evaluate(async () => {
      const res = await fetch('/bff/user?slide=false');
      return ((await res.json()) as { session: { absoluteExpiresAt: string } }).session;
    });
    const cookiesBefore = (await context.cookies()).find((cookie) => cookie.name === 'gatehouse');
    const card = page.locator('[data-testid="provider-row"][data-provider-id="dev"]');
    const popupOpened = page.waitForEvent('popup');
    await card.getByRole('button', { name: 'Test sign-in' }).click();
    const popup = await popupOpened;
    await popup.getByLabel('Username').fill('alice');
    await popup.getByLabel('Password').fill('alice');
    await popup.getByRole('button', { name: 'Sign in' }).click();
    const consent = popup.getByRole('button', { name: 'Continue' });
    const result = popup.getByTestId('test-sign-in-result');
    await expect(consent.or(result)).toBeVisible();
    if (await consent.isVisible()) await consent.click();
    await expect(result).toContainText('works');
    await expect(popup.getByTestId('test-sign-in-subject')).toHaveText('alice');
    await noSeriousViolations(popup, 'test sign-in result page');

    const outcome = card.getByTestId('provider-test-result');
    await expect(outcome).toHaveAttribute('data-outcome', 'passed');
    await expect(outcome).toContainText('subject alice');
    await popup.close();

    const cookiesAfter = (await context.cookies()).find((cookie) => cookie.name === 'gatehouse');
    expect(cookiesAfter?.value).toBe(cookiesBefore?.value);
    const sessionAfter = await page.evaluate(async () => {
      const res = await fetch('/bff/user?slide=false');
      return ((await res.json()) as { session: { absoluteExpiresAt: string } }).session;
    });
    expect(sessionAfter.absoluteExpiresAt).toBe(sessionBefore.absoluteExpiresAt);
  });

  test('a private_key_jwt provider: JWKS URL, signing keys, rotation (axe, 360/1280, light/dark)', async ({
    page,
    stack,
  }) => {
    // Four axe runs and screenshots: on a busy machine this needs more than the default.
    test.slow();
    await signInAsAlice(page);
    // The dev IdP's realm /keys has a client registered with this provider's JWKS URL.
    const jwksUrl = `${stack.baseURL}/bff/jwks/acme/keys-sso`;
    await page.getByLabel('Provider ID').fill('keys-sso');
    await page.getByLabel('Token endpoint auth method').selectOption('private_key_jwt');
    await expect(page.getByTestId('jwks-uri')).toHaveText(jwksUrl);
    await page.getByLabel('Issuer').fill(`${stack.idpOrigin}/keys`);
    await page.getByLabel('Client ID').fill('gatehouse-acme-keys');
    // Saving runs every check: the OP fetches the candidate key and accepts the assertion.
    await page.getByRole('button', { name: 'Save provider' }).click();
    await expect(page.getByTestId('admin-notice')).toContainText('Saved keys-sso');

    const card = page.locator('[data-testid="provider-row"][data-provider-id="keys-sso"]');
    const panel = card.getByTestId('signing-keys');
    await expect(panel.getByRole('heading', { name: 'Signing keys' })).toBeVisible();
    await expect(panel.getByTestId('signing-keys-jwks-uri')).toHaveText(jwksUrl);
    const keys = panel.getByTestId('signing-key');
    await expect(keys).toHaveCount(1);
    await expect(keys.first()).toHaveAttribute('data-signing', 'true');
    await expect(keys.first().getByTestId('signing-key-state')).toHaveText('Signing');
    const firstKid = await keys.first().getAttribute('data-kid');

    await panel.getByRole('button', { name: 'Rotate key' }).click();
    await expect(keys).toHaveCount(2);
    // The old key signs until the new one activates; the new one is published at once.
    await expect(panel.locator(`[data-kid="${firstKid}"]`)).toHaveAttribute('data-signing', 'true');
    const fresh = panel.locator('[data-testid="signing-key"][data-signing="false"]');
    await expect(fresh.getByTestId('signing-key-state')).toHaveText('Published, signs soon');
    // Both are what the OP can fetch.
    const published = (await (await page.request.get(jwksUrl)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(published.keys.map((key) => key.kid).sort()).toEqual(
      (await keys.evaluateAll((items) => items.map((item) => item.getAttribute('data-kid'))))
        .filter((kid): kid is string => kid !== null)
        .sort(),
    );

    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const width of [360, 1280]) {
        await page.setViewportSize({ width, height: 900 });
        await expect(panel).toBeVisible();
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        expect(overflow, `signing keys at ${width}px`).toBeLessThanOrEqual(0);
        await noSeriousViolations(page, `signing keys ${width}px ${scheme}`);
        await panel.scrollIntoViewIfNeeded();
        await card.screenshot({ path: `${SCREENS}/admin-signing-keys-${width}-${scheme}.png` });
      }
    }

    // Retire the key that is not signing (asks once more), then clean up.
    await fresh.getByRole('button', { name: /^Retire key/ }).click();
    await fresh.getByRole('button', { name: /^Confirm retire key/ }).click();
    await expect(keys).toHaveCount(1);
    await card.getByRole('button', { name: 'Delete' }).click();
    await card.getByRole('button', { name: 'Confirm delete' }).click();
    await expect(card).toHaveCount(0);
  });

  test('every tab works, passes axe and is captured at 360 and 1280 px, light and dark', async ({
    page,
  }) => {
    // Sixteen axe runs and screenshots: on a busy machine this needs more than the default.
    test.slow();
    await signInAsAlice(page);
    await page.getByRole('tab', { name: 'Sessions' }).click();
    const own = page.locator('[data-testid="tenant-session"][data-current="true"]');
    await expect(own).toContainText('This is you');
    await page.getByRole('tab', { name: 'API keys' }).click();
    await expect(page.getByTestId('api-keys-operator-only')).toBeVisible();
    await page.getByRole('tab', { name: 'Audit' }).click();
    await expect(page.getByTestId('audit-event').first()).toBeVisible();
    // Arrow keys move between tabs.
    await page.getByRole('tab', { name: 'Audit' }).focus();
    await page.keyboard.press('Home');
    await expect(page.getByRole('tab', { name: 'Providers' })).toBeFocused();

    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const width of [360, 1280]) {
        await page.setViewportSize({ width, height: 900 });
        for (const tab of TABS) {
          await page.getByRole('tab', { name: tab }).click();
          await expect(page.getByRole('tab', { name: tab })).toHaveAttribute(
            'aria-selected',
            'true',
          );
          await expect(page.getByRole('status').filter({ hasText: 'Loading' })).toHaveCount(0);
          // Nothing scrolls sideways on a phone.
          const overflow = await page.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
          );
          expect(overflow, `${tab} at ${width}px`).toBeLessThanOrEqual(0);
          await noSeriousViolations(page, `${tab} ${width}px ${scheme}`);
          const name = tab.toLowerCase().replace(/\s+/g, '-');
          await page.screenshot({
            path: `${SCREENS}/admin-${name}-${width}-${scheme}.png`,
            fullPage: true,
          });
        }
      }
    }
  });
});
