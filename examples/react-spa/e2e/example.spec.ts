import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';

/** The dev IdP's own login and consent pages. */
async function signInAtDevIdp(page: Page, login: string): Promise<void> {
  await page.getByLabel('Username').fill(login);
  await page.getByLabel('Password').fill(login);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id}: ${violation.help}`);
}

test('signs in through the dev IdP, calls the demo API through Gatehouse, signs out', async ({
  page,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('signed-out')).toBeVisible();
  const appOrigin = new URL(page.url()).origin;
  const idp = page.waitForURL((url) => url.origin !== appOrigin);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await idp;
  await signInAtDevIdp(page, 'alice');

  await expect(page.getByTestId('user-name')).toHaveText('Alice Anderson');
  await expect(page.getByTestId('user-tenant')).toHaveText('acme');
  const answer = page.waitForResponse((response) => response.url().endsWith('/api/demo/me'));
  await page.getByRole('button', { name: 'Call the API' }).click();
  const response = await answer;
  expect(response.status()).toBe(200);
  expect(await response.request().headerValue('x-csrf')).toBe('1');
  await expect(page.getByTestId('api-status')).toHaveText('GET /api/demo/me answered 200');
  await expect(page.getByTestId('api-result')).toContainText('"sub": "alice"');
  // The browser holds a session cookie only; the API saw a bearer token it never did.
  const cookies = await page.context().cookies();
  expect(cookies.map((cookie) => cookie.name)).toContain('gatehouse');
  expect(cookies.find((cookie) => cookie.name === 'gatehouse')?.httpOnly).toBe(true);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('signed-out')).toBeVisible();
  await expect(page.getByTestId('user-name')).toBeHidden();
});

test('an email finds its organisation: carol signs in to globex', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Or use your work email').fill('carol@globex.test');
  await page.getByRole('button', { name: 'Continue' }).click();
  await signInAtDevIdp(page, 'carol');
  await expect(page.getByTestId('user-name')).toHaveText('Carol Chen');
  await expect(page.getByTestId('user-tenant')).toHaveText('globex');
});

test('has no serious or critical accessibility violations, signed out and signed in', async ({
  page,
}) => {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await page.goto('/');
    await expect(page.getByTestId('signed-out')).toBeVisible();
    expect(await seriousViolations(page), `signed out, ${colorScheme}`).toEqual([]);
  }
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signInAtDevIdp(page, 'bob');
  await page.getByRole('button', { name: 'Call the API' }).click();
  await expect(page.getByTestId('api-result')).toContainText('"sub": "bob"');
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    expect(await seriousViolations(page), `signed in, ${colorScheme}`).toEqual([]);
  }
});

test('screenshots at 360 and 1280 px, light and dark', async ({ page }, testInfo) => {
  await page.goto('/');
  for (const width of [360, 1280]) {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.setViewportSize({ width, height: 800 });
      await page.emulateMedia({ colorScheme });
      await expect(page.getByTestId('signed-out')).toBeVisible();
      await page.screenshot({
        path: testInfo.outputPath(`signed-out-${width}-${colorScheme}.png`),
        fullPage: true,
      });
    }
  }
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await signInAtDevIdp(page, 'alice');
  await page.getByRole('button', { name: 'Call the API' }).click();
  await expect(page.getByTestId('api-result')).toContainText('"sub": "alice"');
  for (const width of [360, 1280]) {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.setViewportSize({ width, height: 800 });
      await page.emulateMedia({ colorScheme });
      // Nothing may scroll sideways at a phone's width (the API answer scrolls in its own box).
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, `horizontal overflow at ${width}px`).toBe(0);
      await page.screenshot({
        path: testInfo.outputPath(`signed-in-${width}-${colorScheme}.png`),
        fullPage: true,
      });
    }
  }
});
