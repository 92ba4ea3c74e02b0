import { test, expect, signInThroughDevIdp, serverSideTokens, JWT_PATTERN } from './fixtures.ts';

test('alice signs in through the dev IdP, calls the API, reloads and signs out; no token reaches the browser', async ({
  page,
  context,
  stack,
}) => {
  const bodies: Array<{ url: string; text: string }> = [];
  page.on('response', (response) => {
    void response.text().then(
      (text) => bodies.push({ url: response.url(), text }),
      () => undefined, // redirects have no body
    );
  });

  await page.goto('/');
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await signInThroughDevIdp(page, 'alice');

  await expect(page.getByText('Signed in as Alice Anderson')).toBeVisible();
  await expect(page.getByTestId('claims')).toContainText('alice@acme.test');

  await page.getByRole('button', { name: 'Call API' }).click();
  const result = page.getByTestId('api-result');
  await expect(result).toContainText('"sub": "alice"');
  await expect(result).toContainText('urn:gatehouse:demo-api');

  await page.reload();
  await expect(page.getByText('Signed in as Alice Anderson')).toBeVisible();

  // The session cookie is HttpOnly, SameSite=Strict, and invisible to scripts.
  const cookies = await context.cookies(stack.baseURL);
  const session = cookies.find((c) => c.name === 'gatehouse');
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe('Strict');
  expect(session?.path).toBe('/');
  const storage = await page.evaluate(() => ({
    cookie: document.cookie,
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
  }));
  expect(storage.cookie).not.toContain('gatehouse=');

  // No token of the signed-in session anywhere the browser could read it.
  const tokens = await serverSideTokens(stack.controlUrl);
  expect(tokens.length).toBeGreaterThanOrEqual(2);
  await expect.poll(() => bodies.some((b) => b.url.includes('/api/demo/me'))).toBe(true);
  const seen = [...bodies.map((b) => b.text), storage.cookie, storage.local, storage.session];
  for (const text of seen) {
    expect(text).not.toMatch(JWT_PATTERN);
    for (const token of tokens) expect(text.includes(token)).toBe(false);
  }
  const localPages = bodies.filter((b) => b.url.startsWith(stack.baseURL));
  expect(localPages.length).toBeGreaterThan(3);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  expect(page.url().startsWith(stack.baseURL)).toBe(true);
  const user = await page.request.get('/bff/user');
  expect(user.status()).toBe(401);
});
