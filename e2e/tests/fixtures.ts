import { test as base, expect } from '@gatehouse/playwright';
import type { Page } from '@playwright/test';

export interface StackUrls {
  baseURL: string;
  idpOrigin: string;
  controlUrl: string;
}

/**
 * The stack's URLs (set by global-setup) as a fixture, and `baseURL` for page.goto('/'), on top
 * of @gatehouse/playwright's `gatehouse` fixture and `gatehouseUser` option.
 */
export const test = base.extend<{ stack: StackUrls }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures must destructure their first argument
  stack: async ({}, use) => {
    const { E2E_BASE_URL, E2E_IDP_ORIGIN, E2E_CONTROL_URL } = process.env;
    if (!E2E_BASE_URL || !E2E_IDP_ORIGIN || !E2E_CONTROL_URL)
      throw new Error('global-setup did not run');
    await use({ baseURL: E2E_BASE_URL, idpOrigin: E2E_IDP_ORIGIN, controlUrl: E2E_CONTROL_URL });
  },
  // eslint-disable-next-line no-empty-pattern -- as above
  baseURL: async ({}, use) => {
    await use(process.env.E2E_BASE_URL);
  },
});

export { expect };

/** Signs in through the dev IdP's real login and consent pages. */
export async function signInThroughDevIdp(
  page: Page,
  login: string,
  password = login,
): Promise<void> {
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByLabel('Username').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

/** Everything the server holds that must never reach a browser. */
export async function serverSideTokens(controlUrl: string): Promise<string[]> {
  const res = await fetch(`${controlUrl}/tokens`);
  return ((await res.json()) as { tokens: string[] }).tokens;
}

export const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/;
