import { existsSync, readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import type * as Sdk from '../../packages/client/src/index.ts';
import { test, expect } from './fixtures.ts';

/**
 * The SDK as teams ship it (`packages/client/dist`, built by `pnpm build:sdk`, which
 * `pnpm test:e2e` runs first) in Chromium against the real Gatehouse: a blank page of
 * Gatehouse's origin, so the session cookie applies, loads it as a module and nothing else (no
 * app with checks of its own to count).
 */
const SDK_BUNDLE = new URL('../../packages/client/dist/index.js', import.meta.url);
const LAB = '/sdk-lab/';

test.use({ gatehouseUser: { tenant: 'acme', sub: 'sdk', name: 'Sam Sdk' } });

interface Lab {
  sdk: typeof Sdk;
  client: Sdk.GatehouseClient;
  /** Every state the client moved to since the lab opened. */
  changes: Sdk.SessionState[];
}

declare global {
  interface Window {
    lab: Lab;
  }
}

/** Opens the lab page and makes one client there, signed in (its first check answered). */
async function openLab(page: Page): Promise<void> {
  if (!existsSync(SDK_BUNDLE)) throw new Error('packages/client/dist is missing: pnpm build:sdk');
  const bundle = readFileSync(SDK_BUNDLE, 'utf8');
  await page.route(`**${LAB}`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>SDK lab</title>' }),
  );
  await page.route(`**${LAB}client.js`, (route) =>
    route.fulfill({ contentType: 'text/javascript', body: bundle }),
  );
  await page.goto(LAB);
  const status = await page.evaluate(async (url) => {
    const sdk = (await import(url)) as typeof Sdk;
    const client = sdk.createGatehouseClient({ channelName: 'sdk-lab' });
    const state = await client.refresh();
    const changes: Sdk.SessionState[] = [];
    client.subscribe((next) => changes.push(next));
    window.lab = { sdk, client, changes };
    return state.status;
  }, `${LAB}client.js`);
  expect(status).toBe('signed-in');
}

/** The `GET /bff/user` requests the page sends: when each left and when its answer came. */
function watchChecks(page: Page) {
  const checks: Array<{ sentAt: number; status?: number; answeredAt?: number }> = [];
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/bff/user') checks.push({ sentAt: Date.now() });
  });
  page.on('response', (response) => {
    if (new URL(response.url()).pathname !== '/bff/user') return;
    const check = checks.findLast((c) => c.answeredAt === undefined);
    if (check) Object.assign(check, { status: response.status(), answeredAt: Date.now() });
  });
  return checks;
}

test('Redis down: a 503 with Retry-After, no sign-out; the SDK’s own checks wait, the app’s go out', async ({
  page,
  stack,
}) => {
  await openLab(page);
  const checks = watchChecks(page);
  const redis = (action: 'pause' | 'resume') => fetch(`${stack.controlUrl}/redis/${action}`);
  await redis('pause');
  try {
    const problem = await page.evaluate(async () => {
      const error = await window.lab.client.refresh().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!(error instanceof window.lab.sdk.GatehouseProblem)) return String(error);
      const { status, code, retryAfterMs } = error;
      return { status, code, retryAfterMs };
    });
    expect(problem).toEqual({ status: 503, code: 'store_unavailable', retryAfterMs: 5_000 });

    // An API call's answer, read with readProblem.
    const api = await page.evaluate(async () => {
      const res = await window.lab.client.apiFetch('/api/demo/me');
      const { code, retryAfterMs } = await window.lab.sdk.readProblem(res);
      return { status: res.status, code, retryAfterMs };
    });
    expect(api).toEqual({ status: 503, code: 'store_unavailable', retryAfterMs: 5_000 });

    // The tab shown again, another tab's sign-in: the SDK asks nothing for now.
    const before = checks.length;
    await page.evaluate(() => {
      document.dispatchEvent(new Event('visibilitychange'));
      const otherTab = new BroadcastChannel('sdk-lab');
      otherTab.postMessage({ type: 'signed-in' });
      otherTab.close();
    });
    await page.waitForTimeout(1_500);
    expect(checks.length).toBe(before);

    // The app's own check goes out at once.
    await page.evaluate(() => window.lab.client.refresh().catch(() => undefined));
    await expect.poll(() => checks.at(-1)?.status).toBe(503);
    expect(checks.length).toBe(before + 1);
  } finally {
    await redis('resume');
  }

  // Then one held check, no sooner than 5 s after that 503, which finds the session.
  const last503 = checks.at(-1)!;
  const sent = checks.length;
  await expect.poll(() => checks.at(-1)?.status, { timeout: 10_000 }).toBe(200);
  expect(checks.length).toBe(sent + 1);
  expect(checks.at(-1)!.sentAt - last503.answeredAt!).toBeGreaterThanOrEqual(4_900);
  await page.waitForTimeout(500);
  expect(checks.length).toBe(sent + 1);
  const after = await page.evaluate(() => ({
    status: window.lab.client.state.status,
    changes: window.lab.changes.length,
  }));
  expect(after).toEqual({ status: 'signed-in', changes: 0 });
});

test('apiFetch: no answer is a network_error problem; the caller’s abort stays fetch’s', async ({
  page,
}) => {
  await openLab(page);
  await page.route('**/api/demo/me', (route) => route.abort('internetdisconnected'));
  await page.route('**/api/demo/slow', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await route.fulfill({ status: 200, body: '{}' }).catch(() => undefined);
  });

  const offline = await page.evaluate(async () => {
    const error = await window.lab.client.apiFetch('/api/demo/me').catch((e: unknown) => e);
    if (!(error instanceof window.lab.sdk.GatehouseProblem)) return String(error);
    return {
      status: error.status,
      code: error.code,
      cause: error.cause instanceof TypeError ? 'TypeError' : String(error.cause),
    };
  });
  expect(offline).toEqual({ status: 0, code: 'network_error', cause: 'TypeError' });

  const aborts = await page.evaluate(async () => {
    const { client } = window.lab;
    const caught = (promise: Promise<unknown>) =>
      promise.then(
        () => 'answered',
        (e: unknown) => e,
      );
    const controller = new AbortController();
    const pending = caught(client.apiFetch('/api/demo/slow', { signal: controller.signal }));
    controller.abort();
    const aborted = await pending;
    const reason = new Error('navigated away');
    const withReason = new AbortController();
    const second = caught(client.apiFetch('/api/demo/slow', { signal: withReason.signal }));
    withReason.abort(reason);
    const timedOut = await caught(
      client.apiFetch('/api/demo/slow', { signal: AbortSignal.timeout(100) }),
    );
    const name = (error: unknown) =>
      error instanceof DOMException ? `DOMException ${error.name}` : String(error);
    return {
      aborted: name(aborted),
      isSignalReason: aborted === controller.signal.reason,
      ownReason: (await second) === reason,
      timedOut: name(timedOut),
      state: client.state.status,
    };
  });
  expect(aborts).toEqual({
    aborted: 'DOMException AbortError',
    isSignalReason: true,
    ownReason: true,
    timedOut: 'DOMException TimeoutError',
    state: 'signed-in',
  });
});
