import { SIGN_IN_ANNOTATION } from '@gatehouse/playwright';
import { test, expect } from './fixtures.ts';

/**
 * `gatehouseSessionReuse: 'worker'`: tests of one worker asking for the same user shape share
 * its storage state until a lifecycle control spends the session.
 */
test.describe.serial('a session reused within the worker', () => {
  test.use({
    gatehouseUser: { tenant: 'acme', sub: 'reused', name: 'Robin Reuse' },
    gatehouseSessionReuse: 'worker',
  });
  const subs: string[] = [];
  const signedIn = () =>
    test.info().annotations.filter((a) => a.type === SIGN_IN_ANNOTATION).length;

  test('the first test signs in', async ({ page, gatehouse }) => {
    subs.push(gatehouse.user!.sub);
    expect(signedIn()).toBe(1);
    await page.goto('/');
    await expect(page.getByText('Signed in as Robin Reuse')).toBeVisible();
  });

  test('the next one reuses that user and session without signing in', async ({
    page,
    gatehouse,
  }) => {
    subs.push(gatehouse.user!.sub);
    expect(subs[1]).toBe(subs[0]);
    expect(signedIn()).toBe(0);
    await page.goto('/');
    await expect(page.getByText('Signed in as Robin Reuse')).toBeVisible();
    await gatehouse.expireSession(); // spends it
  });

  test('after a lifecycle control, a fresh user signs in', async ({ page, gatehouse }) => {
    subs.push(gatehouse.user!.sub);
    expect(subs[2]).not.toBe(subs[0]);
    expect(signedIn()).toBe(1);
    await page.goto('/');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  });

  test('a session signed out in the app is not reused either', async ({ page, gatehouse }) => {
    expect(gatehouse.user!.sub).not.toBe(subs[2]);
    expect(signedIn()).toBe(1);
    await page.goto('/');
    await expect(page.getByText('Signed in as Robin Reuse')).toBeVisible();
  });
});
