import type { Page, Request } from '@playwright/test';
import { test, expect, signInThroughDevIdp, serverSideTokens, JWT_PATTERN } from './fixtures.ts';

/** Every response body the page received (redirects have none), read as it arrives. */
function recordBodies(page: Page) {
  const pending: Array<Promise<{ url: string; text: string } | undefined>> = [];
  // Every request, each hop of a redirect chain included (a redirect's answer has no
  // 'response' event of its own: `request.response()` has it).
  const requests: Request[] = [];
  page.on('request', (request) => requests.push(request));
  page.on('response', (response) => {
    pending.push(
      response.text().then(
        (text) => ({ url: response.url(), text }),
        () => undefined, // a redirect has no body
      ),
    );
  });
  return {
    requests,
    async bodies() {
      return (await Promise.all(pending)).filter((body) => body !== undefined);
    },
  };
}

test('a whole session, logout included: no response body the browser received holds a token', async ({
  page,
  stack,
}) => {
  const recorded = recordBodies(page);
  await page.goto('/');
  await signInThroughDevIdp(page, 'alice');
  await expect(page.getByText('Signed in as Alice Anderson')).toBeVisible();

  await page.getByRole('button', { name: 'Call API' }).click();
  await expect(page.getByTestId('api-result')).toContainText('"sub": "alice"');
  const sessionsListed = page.waitForResponse((r) => r.url() === `${stack.baseURL}/bff/sessions`);
  await page.goto('/sessions');
  expect((await sessionsListed).status()).toBe(200);
  await page.goto('/');
  await expect(page.getByText('Signed in as Alice Anderson')).toBeVisible();

  // The tokens the session holds (read server-side before the logout ends it).
  const tokens = await serverSideTokens(stack.controlUrl);
  expect(tokens.length).toBeGreaterThanOrEqual(2);

  // The app lands on `/` again once the IdP has sent the browser back through /bff/signed-out.
  const landed = page.waitForRequest(
    (r) =>
      r.url() === `${stack.baseURL}/` &&
      (r.redirectedFrom()?.url().startsWith(`${stack.baseURL}/bff/signed-out?`) ?? false),
  );
  await page.getByRole('button', { name: 'Sign out' }).click();
  await landed;
  // Through the IdP's logout page and /bff/signed-out, back to the app, signed out.
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await expect.poll(() => page.url()).toBe(`${stack.baseURL}/`);
  expect((await page.request.get('/bff/user')).status()).toBe(401);

  // The logout was the browser's navigation to this session's logout link, redirected to the
  // IdP's end-session page (state, our post-logout URI), which came back through /bff/signed-out.
  const logoutRequest = recorded.requests.find((r) =>
    r.url().startsWith(`${stack.baseURL}/bff/logout?sid=`),
  );
  expect(logoutRequest?.method()).toBe('GET');
  expect(logoutRequest?.isNavigationRequest()).toBe(true);
  // Redirected to the IdP's end-session page.
  const toIdp = logoutRequest?.redirectedTo();
  expect(toIdp?.method()).toBe('GET');
  const end = new URL(toIdp?.url() ?? 'http://missing/');
  expect(end.origin).toBe(stack.idpOrigin);
  expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.baseURL}/bff/signed-out`);
  const state = end.searchParams.get('state') ?? '';
  expect(state).not.toBe('');
  const signedOutRequest = recorded.requests.find((r) =>
    r.url().startsWith(`${stack.baseURL}/bff/signed-out?`),
  );
  expect(new URL(signedOutRequest?.url() ?? 'http://x/').searchParams.get('state')).toBe(state);
  expect(signedOutRequest?.redirectedTo()?.url()).toBe(`${stack.baseURL}/`);
  // No script ever fetched /bff/logout.
  expect(
    recorded.requests.filter((r) => r.url().includes('/bff/logout') && !r.isNavigationRequest()),
  ).toEqual([]);

  const bodies = await recorded.bodies();
  expect(bodies.filter((b) => b.url.startsWith(stack.baseURL)).length).toBeGreaterThan(5);
  for (const { url, text } of bodies) {
    for (const token of tokens) {
      expect(text.includes(token), `a token in the body of ${url}`).toBe(false);
    }
    if (url.startsWith(stack.baseURL)) {
      expect(text, `a JWT in the body of ${url}`).not.toMatch(JWT_PATTERN);
    }
  }
});

test.describe('a hostile site cannot sign the user out', () => {
  test.use({ gatehouseUser: { tenant: 'acme', name: 'Carol Clark' } });

  test('a cross-site form post and a cross-site logout link leave the session alone', async ({
    page,
    stack,
  }) => {
    await page.goto('/');
    await expect(page.getByText('Signed in as Carol Clark')).toBeVisible();
    const { logoutUrl } = (await (await page.request.get('/bff/user')).json()) as {
      logoutUrl: string;
    };

    // A page on another site that posts a form to /bff/logout as soon as it loads, and one
    // that links to the GET logout with this very session's handle (say it leaked).
    await page.route('https://evil.example/**', (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: route.request().url().endsWith('/post')
          ? `<form method="post" action="${stack.baseURL}/bff/logout"></form><script>document.forms[0].submit()</script>`
          : `<a id="out" href="${stack.baseURL}${logoutUrl}">win a prize</a>`,
      }),
    );

    const refused = page.waitForResponse(`${stack.baseURL}/bff/logout`);
    await page.goto('https://evil.example/post');
    const answer = await refused;
    expect(answer.status()).toBe(403);
    expect(answer.headers()['gatehouse-problem']).toBe('foreign_origin');

    await page.goto('https://evil.example/link');
    await page.locator('#out').click();
    // The SameSite=Strict cookie stays home: Gatehouse sees no session and ends nothing.
    await page.waitForURL(`${stack.baseURL}/`);

    await page.goto('/');
    await expect(page.getByText('Signed in as Carol Clark')).toBeVisible();
    expect((await page.request.get('/bff/user')).status()).toBe(200);

    // The same link clicked on our own site does sign out.
    await page.goto(`${stack.baseURL}${logoutUrl}`);
    await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
    expect((await page.request.get('/bff/user')).status()).toBe(401);
  });
});
