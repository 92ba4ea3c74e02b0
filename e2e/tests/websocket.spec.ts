import { test, expect, signInThroughDevIdp } from './fixtures.ts';

declare global {
  interface Window {
    /** What the test page's socket saw: its messages and its close code. */
    socketLog?: { messages: string[]; closed?: number; opened: boolean };
  }
}

test('the browser’s WebSocket reaches the API as the signed-in user and is closed on sign-out', async ({
  context,
  page,
}) => {
  await page.goto('/');
  await signInThroughDevIdp(page, 'alice');
  await expect(page.getByText('Signed in as Alice Anderson')).toBeVisible();

  // The SPA's own origin: Chromium sends the session cookie and this Origin by itself.
  await page.evaluate(() => {
    const log: NonNullable<Window['socketLog']> = { messages: [], opened: false };
    window.socketLog = log;
    const socket = new WebSocket(
      new URL('/api/demo/ws/echo', location.href).href.replace(/^http/, 'ws'),
    );
    socket.onopen = () => {
      log.opened = true;
      socket.send('ping from the page');
    };
    socket.onmessage = (event) => log.messages.push(String(event.data));
    socket.onclose = (event) => (log.closed = event.code);
  });
  await expect.poll(() => page.evaluate(() => window.socketLog?.messages.length)).toBe(2);
  const [welcome, echo] = await page.evaluate(() => window.socketLog?.messages ?? []);
  const first = JSON.parse(welcome ?? '{}') as { type: string; sub: string; headers: object };
  expect(first).toMatchObject({ type: 'welcome', sub: 'alice' });
  // The API got a bearer token, never the browser's cookie.
  expect(first.headers).toMatchObject({ authorization: '<present>' });
  expect(first.headers).not.toHaveProperty('cookie');
  expect(echo).toBe('ping from the page');

  // Signing out in another tab ends the session; the socket learns it within a check interval.
  const other = await context.newPage();
  await other.goto('/');
  await other.getByRole('button', { name: 'Sign out' }).click();
  await expect(other.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await expect
    .poll(() => page.evaluate(() => window.socketLog?.closed), { timeout: 20_000 })
    .toBe(4401);
});

test('a page of another origin cannot open a socket with the user’s cookie', async ({
  page,
  stack,
}) => {
  await page.goto('/');
  await signInThroughDevIdp(page, 'alice');
  await expect(page.getByText('Signed in as Alice Anderson')).toBeVisible();

  // Another origin on the same site (another port of localhost): the cookie would go along,
  // the Origin gives it away.
  await page.goto(`${stack.idpOrigin}/.well-known/openid-configuration`);
  const target = new URL('/api/demo/ws/echo', stack.baseURL).href.replace(/^http/, 'ws');
  const outcome = await page.evaluate(
    (url) =>
      new Promise<{ opened: boolean; code: number }>((resolve) => {
        let opened = false;
        const socket = new WebSocket(url);
        socket.onopen = () => (opened = true);
        socket.onclose = (event) => resolve({ opened, code: event.code });
      }),
    target,
  );
  expect(outcome).toEqual({ opened: false, code: 1006 });
});

test('the home page’s echo socket names the signed-in user', async ({ page }) => {
  await page.goto('/');
  await signInThroughDevIdp(page, 'bob');
  await expect(page.getByText('Signed in as Bob Brown')).toBeVisible();
  await page.getByRole('button', { name: 'Open echo socket' }).click();
  await expect(page.getByTestId('socket-log')).toContainText('welcome, bob');
  await expect(page.getByTestId('socket-log')).toContainText('echo: hello at');
});
