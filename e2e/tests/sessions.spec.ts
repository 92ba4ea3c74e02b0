import { test, expect } from './fixtures.ts';

test.describe('one tab signs out', () => {
  test.use({ gatehouseUser: { tenant: 'acme', name: 'Bob Brown' } });

  test('signing out in one tab shows the other tab signed out', async ({ context }) => {
    const first = await context.newPage();
    await first.goto('/');
    await expect(first.getByText('Signed in as Bob Brown')).toBeVisible();

    const second = await context.newPage();
    await second.goto('/');
    await expect(second.getByText('Signed in as Bob Brown')).toBeVisible();

    await first.getByRole('button', { name: 'Sign out' }).click();
    await expect(first.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
    // The other tab learns it over BroadcastChannel, without a reload.
    await expect(second.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
    await expect(second.getByText('Signed in as Bob Brown')).toBeHidden();
  });
});

test('the sessions page ends the session of another browser, whose next API call gets 401', async ({
  browser,
  gatehouse,
}) => {
  const laptop = await browser.newContext();
  const phone = await browser.newContext();
  try {
    // One user, two browsers: two sessions of the same user.
    const user = await gatehouse.signIn(laptop, { tenant: 'acme', name: 'Alice Anderson' });
    await gatehouse.signIn(phone, user);
    const laptopPage = await laptop.newPage();
    await laptopPage.goto('/');
    await expect(laptopPage.getByText('Signed in as Alice Anderson')).toBeVisible();

    const phonePage = await phone.newPage();
    await phonePage.goto('/');
    await expect(phonePage.getByText('Signed in as Alice Anderson')).toBeVisible();
    await phonePage.getByRole('button', { name: 'Call API' }).click();
    await expect(phonePage.getByTestId('api-result')).toContainText(`"sub": "${user.sub}"`);

    await laptopPage.getByRole('link', { name: 'Sessions' }).click();
    const rows = laptopPage.getByTestId('session-row');
    await expect(rows.filter({ has: laptopPage.getByText('This device') })).toHaveCount(1);
    const others = rows.filter({ has: laptopPage.getByRole('button', { name: 'Sign out' }) });
    await expect(others).toHaveCount(1); // the phone, and only it: the user is this test's own
    // End every other session of alice (the phone is one of them).
    await laptopPage.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await laptopPage
      .getByRole('dialog', { name: 'Sign out everywhere else?' })
      .getByRole('button', { name: 'Sign out other sessions' })
      .click();
    await expect(laptopPage.getByTestId('sessions-notice')).toContainText(
      'Signed out everywhere else',
    );
    await expect(others).toHaveCount(0);

    // The phone's next API call is refused and the SPA says so.
    const answer = phonePage.waitForResponse((r) => r.url().includes('/api/demo/me'));
    await phonePage.getByRole('button', { name: 'Call API' }).click();
    expect((await answer).status()).toBe(401);
    await expect(phonePage.getByTestId('session-ended')).toBeVisible();
    await expect(phonePage.getByRole('button', { name: 'Sign in again' })).toBeVisible();

    // The laptop is still signed in.
    await laptopPage.goto('/');
    await expect(laptopPage.getByText('Signed in as Alice Anderson')).toBeVisible();
  } finally {
    await laptop.close();
    await phone.close();
  }
});
