/// <reference types="node" />
import { describe, expect, it, vi } from 'vitest';
import { createGatehouseClient, GatehouseProblem, readProblem } from '../src/index.ts';
import { FakeVisibility, setUpFakeGatehouse, delay, waitForState } from './helpers.ts';

const { fake, clients } = await setUpFakeGatehouse();

const urlOf = (input: RequestInfo | URL): string =>
  typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;

/** The session checks a client sends, with when it sent them. */
function recordChecks() {
  const checks: number[] = [];
  const recording: typeof fetch = (input, init) => {
    if (urlOf(input).includes('/bff/user')) checks.push(Date.now());
    return fetch(input, init);
  };
  return { checks, fetch: recording };
}

const refreshError = (client: { refresh: () => Promise<unknown> }) =>
  client.refresh().then(
    () => undefined,
    (error: unknown) => error,
  );

describe('Retry-After on a GatehouseProblem', () => {
  // The server's own clock, far from ours: an HTTP-date counts from its Date header.
  const serverNow = 'Tue, 06 Nov 2001 08:49:30 GMT';

  it.each([
    ['delay-seconds', { 'retry-after': '5' }, 5_000],
    ['zero', { 'retry-after': '0' }, 0],
    ['leading zeros', { 'retry-after': '007' }, 7_000],
    ['an IMF-fixdate', { 'retry-after': 'Tue, 06 Nov 2001 08:49:38 GMT', date: serverNow }, 8_000],
    [
      'an RFC 850 date',
      { 'retry-after': 'Tuesday, 06-Nov-01 08:49:37 GMT', date: serverNow },
      7_000,
    ],
    ['an asctime date', { 'retry-after': 'Tue Nov  6 08:49:40 2001', date: serverNow }, 10_000],
    [
      'a leap second',
      { 'retry-after': 'Sat, 31 Dec 2016 23:59:60 GMT', date: 'Sat, 31 Dec 2016 23:59:50 GMT' },
      10_000,
    ],
    ['a date already past', { 'retry-after': 'Tue, 06 Nov 2001 08:49:00 GMT', date: serverNow }, 0],
    ['a huge delay', { 'retry-after': '9'.repeat(400) }, Number.MAX_SAFE_INTEGER],
  ])('reads %s', async (_name, headers, expected) => {
    fake.signIn();
    const { client } = clients.make();
    fake.failUserWith = 503;
    fake.failUserHeaders = headers;
    const error = await refreshError(client);
    expect(error).toBeInstanceOf(GatehouseProblem);
    expect(error).toMatchObject({ status: 503, code: 'store_unavailable', retryAfterMs: expected });
  });

  it('counts an HTTP-date from now when the answer has no usable Date', async () => {
    fake.signIn();
    const { client } = clients.make();
    fake.failUserWith = 503;
    fake.failUserHeaders = {
      'retry-after': new Date(Date.now() + 30_000).toUTCString(),
      date: 'yesterday',
    };
    const error = (await refreshError(client)) as GatehouseProblem;
    // HTTP-dates have whole seconds.
    expect(error.retryAfterMs).toBeGreaterThan(28_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it.each([
    ['a fraction', '5.5'],
    ['a negative number', '-1'],
    ['a number with a unit', '5s'],
    ['words', 'soon'],
    ['two values', ['5', '7']],
    ['a lower-case date', 'tue, 06 nov 2001 08:49:38 gmt'],
    ['an ISO date', '2001-11-06T08:49:38Z'],
    ['a date with an offset', 'Tue, 06 Nov 2001 08:49:38 +0000'],
    ['a day the month lacks', 'Fri, 31 Nov 2001 08:49:38 GMT'],
    ['hour 24', 'Tue, 06 Nov 2001 24:00:00 GMT'],
    ['nothing', ''],
  ])('ignores %s', async (_name, value) => {
    fake.signIn();
    const { client } = clients.make();
    fake.failUserWith = 503;
    fake.failUserHeaders = { 'retry-after': value, date: serverNow };
    const error = await refreshError(client);
    expect(error).toMatchObject({ status: 503, code: 'store_unavailable' });
    expect((error as GatehouseProblem).retryAfterMs).toBeUndefined();
  });

  it('readProblem gives an apiFetch answer’s problem with its Retry-After; the body stays readable', async () => {
    fake.signIn();
    const { client } = clients.make();
    const res = await client.apiFetch('/api/gatehouse-503?retryAfter=3');
    const problem = await readProblem(res);
    expect(problem).toBeInstanceOf(GatehouseProblem);
    expect(problem).toMatchObject({ status: 503, code: 'store_unavailable', retryAfterMs: 3_000 });
    expect(await res.json()).toMatchObject({ code: 'store_unavailable' });
    // An API's own answer: a problem by its status, its Retry-After all the same.
    const upstream = await readProblem(await client.apiFetch('/api/upstream-503?retryAfter=9'));
    expect(upstream).toMatchObject({ status: 503, code: 'http_503', retryAfterMs: 9_000 });
  });
});

describe('the client’s own checks after a Retry-After', () => {
  it('wait for it as one check, while the app’s own call goes out at once; a 503 signs nobody out', async () => {
    fake.signIn();
    const visibility = new FakeVisibility();
    const channelName = `retry-${crypto.randomUUID()}`;
    const { checks, fetch: recording } = recordChecks();
    const { client } = clients.make({ visibility, channelName, fetch: recording });
    await client.refresh();
    const signedIn = client.state;
    fake.failUserWith = 503;
    fake.failUserHeaders = { 'retry-after': '2' };

    expect(await refreshError(client)).toMatchObject({ status: 503, retryAfterMs: 2_000 });
    const sent = checks.length;
    // Every reason the client has to ask by itself: the tab shown again, another tab's sign-in,
    // an API's own 401 (whose answer must not wait for the check).
    visibility.set('visible');
    visibility.set('visible');
    const otherTab = new BroadcastChannel(channelName);
    otherTab.postMessage({ type: 'signed-in' });
    otherTab.close();
    const startedAt = Date.now();
    const res = await client.apiFetch('/api/upstream-401');
    expect(res.status).toBe(401);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    await delay(800);
    expect(checks.length).toBe(sent);

    // The app asks itself: at once (and Gatehouse says the same again, for 2 s from now).
    await expect(client.refresh()).rejects.toMatchObject({ status: 503 });
    expect(checks.length).toBe(sent + 1);
    const lastAnswer = Date.now();
    expect(client.state).toBe(signedIn);

    fake.failUserWith = undefined;
    await expect.poll(() => checks.length, { timeout: 5_000 }).toBe(sent + 2);
    expect(checks.at(-1)! - lastAnswer).toBeGreaterThanOrEqual(1_990);
    await fake.idle();
    expect(checks.length).toBe(sent + 2);
    expect(fake.requests.at(-1)?.path).toBe('/bff/user?slide=false');
    expect(client.state).toBe(signedIn);
  });

  it('the expiry check that meets a 503 keeps the session, and asks again after the Retry-After', async () => {
    fake.signIn({ ttlMs: 300 });
    const { checks, fetch: recording } = recordChecks();
    const { client } = clients.make({ fetch: recording });
    await client.refresh({ slide: false });
    fake.failUserWith = 503;
    fake.failUserHeaders = { 'retry-after': '3' };

    // Checked once a second past the expiry, then 2 s later by the back-off — held here.
    await expect.poll(() => checks.length, { timeout: 3_000 }).toBe(2);
    const firstExpiryCheck = checks[1]!;
    await delay(2_200);
    expect(checks.length).toBe(2);
    expect(client.state.status).toBe('signed-in');

    fake.failUserWith = undefined;
    await expect(waitForState(client, (s) => s.status === 'signed-out', 5_000)).resolves.toEqual({
      status: 'signed-out',
      reason: 'expired',
    });
    expect(checks.length).toBe(3);
    expect(checks[2]! - firstExpiryCheck).toBeGreaterThanOrEqual(3_000);
  });

  it('Gatehouse’s own 503 to an API call holds them; an API’s own 503 does not', async () => {
    fake.signIn();
    const visibility = new FakeVisibility();
    const { checks, fetch: recording } = recordChecks();
    const { client } = clients.make({ visibility, fetch: recording });
    await client.refresh();

    expect((await client.apiFetch('/api/upstream-503?retryAfter=60')).status).toBe(503);
    visibility.set('visible');
    await expect.poll(() => checks.length).toBe(2);
    await fake.idle();

    const res = await client.apiFetch('/api/gatehouse-503?retryAfter=1');
    expect(res.status).toBe(503);
    const answeredAt = Date.now();
    visibility.set('visible');
    await delay(500);
    expect(checks.length).toBe(2);
    await expect.poll(() => checks.length, { timeout: 3_000 }).toBe(3);
    expect(checks[2]! - answeredAt).toBeGreaterThanOrEqual(990);
  });

  it('a session check that is answered again ends the hold', async () => {
    fake.signIn();
    const visibility = new FakeVisibility();
    const { checks, fetch: recording } = recordChecks();
    const { client } = clients.make({ visibility, fetch: recording });
    await client.refresh();
    fake.failUserWith = 503;
    fake.failUserHeaders = { 'retry-after': '120' };
    await refreshError(client);
    visibility.set('visible');
    fake.failUserWith = undefined;

    await client.refresh();
    expect(checks.length).toBe(3);
    visibility.set('visible');
    await expect.poll(() => checks.length).toBe(4);
  });
});

describe('how long the client’s own checks wait (scripted answers, fake clock)', () => {
  /** A client whose every `/bff/user` answers `status` with `headers`. */
  function scriptedClient(status: number, headers: Record<string, string>) {
    const visibility = new FakeVisibility();
    const sent: string[] = [];
    const client = createGatehouseClient({
      visibility,
      channelName: `scripted-${crypto.randomUUID()}`,
      navigate: () => {},
      fetch: (input) => {
        sent.push(urlOf(input));
        return Promise.resolve(
          new Response(JSON.stringify({ code: 'store_unavailable', title: 'Down', status }), {
            status,
            headers: { 'content-type': 'application/problem+json', ...headers },
          }),
        );
      },
    });
    return { client, visibility, sent };
  }

  it.each([
    ['5 s', { 'retry-after': '5' }, 5_000],
    [
      'an HTTP-date 42 s ahead',
      { 'retry-after': 'Tue, 06 Nov 2001 08:50:12 GMT', date: 'Tue, 06 Nov 2001 08:49:30 GMT' },
      42_000,
    ],
    ['a day: five minutes, no more', { 'retry-after': '86400' }, 300_000],
    ['a 429 of a proxy in front', { 'retry-after': '7' }, 7_000, 429],
  ])('%s', async (_name, headers, holdMs, status = 503) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { client, visibility, sent } = scriptedClient(status, headers);
    try {
      await expect(client.refresh()).rejects.toMatchObject({ status });
      visibility.set('visible');
      await vi.advanceTimersByTimeAsync(holdMs - 1);
      expect(sent).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(sent).toHaveLength(2);
      expect(client.state).toEqual({ status: 'loading' });
    } finally {
      client.dispose();
      vi.useRealTimers();
    }
  });

  it('a 503 without Retry-After holds nothing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { client, visibility, sent } = scriptedClient(503, {});
    try {
      await expect(client.refresh()).rejects.toMatchObject({ retryAfterMs: undefined });
      visibility.set('visible');
      await vi.advanceTimersByTimeAsync(0);
      expect(sent).toHaveLength(2);
    } finally {
      client.dispose();
      vi.useRealTimers();
    }
  });

  it('dispose drops a held check', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { client, visibility, sent } = scriptedClient(503, { 'retry-after': '5' });
    try {
      await expect(client.refresh()).rejects.toMatchObject({ status: 503 });
      visibility.set('visible');
      client.dispose();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(sent).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('apiFetch without an answer', () => {
  it('an unreachable server is a GatehouseProblem network_error, fetch’s TypeError its cause', async () => {
    const { client } = clients.make({ baseUrl: 'http://localhost:1' });
    const error: unknown = await client.apiFetch('/api/demo/me').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GatehouseProblem);
    expect(error).toMatchObject({ status: 0, code: 'network_error', retryAfterMs: undefined });
    expect((error as GatehouseProblem).cause).toBeInstanceOf(TypeError);
    expect(client.state).toEqual({ status: 'loading' });
  });

  it('the caller’s abort rejects with the signal’s own reason, as fetch does', async () => {
    fake.signIn();
    const { client } = clients.make();

    const controller = new AbortController();
    const pending = client.apiFetch('/api/slow', { signal: controller.signal });
    controller.abort();
    const aborted: unknown = await pending.catch((e: unknown) => e);
    expect(aborted).toBe(controller.signal.reason);
    expect(aborted).toMatchObject({ name: 'AbortError' });

    const mine = new Error('navigated away');
    const withReason = new AbortController();
    const second = client.apiFetch('/api/slow', { signal: withReason.signal });
    withReason.abort(mine);
    await expect(second).rejects.toBe(mine);

    await expect(
      client.apiFetch('/api/slow', { signal: AbortSignal.timeout(50) }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(
      client.apiFetch('/api/demo/me', { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(client.state.status).not.toBe('signed-out');
  });
});
