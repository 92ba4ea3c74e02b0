import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApi } from '../src/index.ts';
import type { Note } from '../src/index.ts';
import { AUDIENCE, startTestIssuer } from './jwks-issuer.ts';
import type { TestIssuer } from './jwks-issuer.ts';

let acme: TestIssuer;
let globex: TestIssuer;
let api: { origin: string; close(): Promise<void> };
let alice: string;
let bob: string;
let globexAlice: string;

beforeAll(async () => {
  [acme, globex] = await Promise.all([startTestIssuer('acme-key'), startTestIssuer('globex-key')]);
  api = await startDemoApi({
    trustedIssuers: [acme, globex].map(({ issuer, jwksUri }) => ({
      issuer,
      jwksUri,
      audience: AUDIENCE,
    })),
  });
  [alice, bob, globexAlice] = await Promise.all([
    acme.sign({ sub: 'alice' }),
    acme.sign({ sub: 'bob' }),
    globex.sign({ sub: 'alice' }),
  ]);
});

afterAll(async () => {
  await Promise.all([api.close(), acme.close(), globex.close()]);
});

function call(path: string, token: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  if (typeof init.body === 'string' && !headers.has('content-type')) {
    headers.set('content-type', 'application/json');
  }
  return fetch(`${api.origin}${path}`, { ...init, headers });
}

async function listNotes(token: string): Promise<Note[]> {
  const res = await call('/notes', token);
  expect(res.status).toBe(200);
  return ((await res.json()) as { notes: Note[] }).notes;
}

/** Polls the public counters until `check` holds, so cleanup after a disconnect is observed, not assumed. */
async function waitForStats(check: (stats: Record<string, number>) => boolean): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const stats = (await (await fetch(`${api.origin}/public/stats`)).json()) as Record<
      string,
      number
    >;
    if (check(stats)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('stats never reached the expected state');
}

describe('/notes', () => {
  it('creates, lists, updates and deletes a note', async () => {
    const created = await call('/notes', alice, {
      method: 'POST',
      body: JSON.stringify({ text: 'hi' }),
    });
    expect(created.status).toBe(201);
    const note = (await created.json()) as Note;
    expect(note).toMatchObject({ text: 'hi', id: expect.any(String) as unknown });
    expect(note.createdAt).toBe(note.updatedAt);
    expect(await listNotes(alice)).toEqual([note]);

    const updated = await call(`/notes/${note.id}`, alice, {
      method: 'PUT',
      body: JSON.stringify({ text: 'changed' }),
    });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({
      id: note.id,
      text: 'changed',
      createdAt: note.createdAt,
    });

    expect((await call(`/notes/${note.id}`, alice, { method: 'DELETE' })).status).toBe(204);
    expect(await listNotes(alice)).toEqual([]);
    expect((await call(`/notes/${note.id}`, alice, { method: 'DELETE' })).status).toBe(404);
  });

  it('keeps notes per (issuer, sub): another user or the same sub at another issuer sees nothing', async () => {
    const res = await call('/notes', alice, {
      method: 'POST',
      body: JSON.stringify({ text: 'secret' }),
    });
    const { id } = (await res.json()) as Note;
    expect(await listNotes(bob)).toEqual([]);
    expect(await listNotes(globexAlice)).toEqual([]);
    const put = { method: 'PUT', body: JSON.stringify({ text: 'mine now' }) };
    expect((await call(`/notes/${id}`, bob, put)).status).toBe(404);
    expect((await call(`/notes/${id}`, globexAlice, { method: 'DELETE' })).status).toBe(404);
    expect((await listNotes(alice)).map((note) => note.text)).toContain('secret');
  });

  it.each([
    ['an empty text', JSON.stringify({ text: '' })],
    ['a text over 1000 characters', JSON.stringify({ text: 'x'.repeat(1001) })],
    ['a number', JSON.stringify({ text: 42 })],
    ['no text', JSON.stringify({})],
    ['a JSON array', JSON.stringify(['text'])],
  ])('refuses %s with 400', async (_name, body) => {
    const res = await call('/notes', alice, { method: 'POST', body });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses a body that is not JSON, and an update of an unknown note', async () => {
    const plain = await call('/notes', alice, {
      method: 'POST',
      body: 'text=hi',
      headers: { 'content-type': 'text/plain' },
    });
    expect(plain.status).toBe(400);
    const unknown = await call('/notes/does-not-exist', alice, {
      method: 'PUT',
      body: JSON.stringify({ text: 'x' }),
    });
    expect(unknown.status).toBe(404);
  });

  it('answers malformed JSON with a 400 JSON error and no stack trace', async () => {
    const res = await call('/notes', alice, { method: 'POST', body: '{"text": "unterminated' });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: 'malformed_json' });
    expect(text).not.toMatch(/SyntaxError|at .*\.js/);
  });

  it('refuses a JSON body over 64kb with 413', async () => {
    const body = JSON.stringify({ text: 'x'.repeat(70 * 1024) });
    const res = await call('/notes', alice, { method: 'POST', body });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'payload_too_large' });
  });

  it('does not read a body before the token is verified', async () => {
    const res = await fetch(`${api.origin}/notes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(res.status).toBe(401);
  });
});

describe('/events', () => {
  it('streams exactly N tick events, then ends', async () => {
    const res = await call('/events?count=4&intervalMs=10', alice);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    const events = text.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(4);
    events.forEach((event, index) => {
      const [name, data] = event.split('\n');
      expect(name).toBe('event: tick');
      expect(JSON.parse((data ?? '').replace(/^data: /, ''))).toEqual({
        n: index + 1,
        sub: 'alice',
      });
    });
    await waitForStats((stats) => stats.openEventStreams === 0);
  });

  it('sends headers before the first event and stops its timer when the client disconnects', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const res = await call('/events?count=100&intervalMs=2000', alice, {
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1500);
    await waitForStats((stats) => stats.openEventStreams === 1);
    controller.abort();
    await waitForStats((stats) => stats.openEventStreams === 0);
  });

  it('needs a token', async () => {
    expect((await fetch(`${api.origin}/events`)).status).toBe(401);
  });
});

describe('public diagnostics', () => {
  it('echoes the request and masks the authorization value', async () => {
    const res = await fetch(`${api.origin}/public/echo/deeper?x=1`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer super-secret-token',
        'content-type': 'text/plain',
        'x-test': 'yes',
      },
      body: 'hello body',
    });
    const text = await res.text();
    expect(text).not.toContain('super-secret-token');
    expect(JSON.parse(text)).toMatchObject({
      method: 'POST',
      path: '/public/echo/deeper?x=1',
      headers: { authorization: '<present>', 'x-test': 'yes' },
      body: 'hello body',
    });
  });

  it('echoes a GET without body or authorization', async () => {
    const echo = (await (await fetch(`${api.origin}/public/echo`)).json()) as Record<
      string,
      unknown
    >;
    expect(echo).toMatchObject({ method: 'GET', path: '/public/echo', body: '' });
    expect(echo.headers).not.toHaveProperty('authorization');
  });

  it('answers /public/slow after the delay, and drops the timer when the client leaves', async () => {
    const started = Date.now();
    const res = await fetch(`${api.origin}/public/slow?ms=150`);
    expect(await res.json()).toEqual({ waitedMs: 150 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    const controller = new AbortController();
    const pending = fetch(`${api.origin}/public/slow?ms=30000`, { signal: controller.signal });
    await waitForStats((stats) => stats.pendingSlowRequests === 1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitForStats((stats) => stats.pendingSlowRequests === 0);
  });

  it('redirects and sets a cookie', async () => {
    const redirect = await fetch(`${api.origin}/public/redirect`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('http://example.invalid/elsewhere');
    const cookie = await fetch(`${api.origin}/public/set-cookie`);
    expect(cookie.status).toBe(200);
    expect(cookie.headers.getSetCookie()).toEqual(['upstream=1; Path=/']);
  });

  it('counts a large streamed upload', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(7);
    const chunks = 160; // 10 MiB, far above any body-parser limit
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === chunks) return controller.close();
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${api.origin}/public/upload`, {
      method: 'POST',
      body,
      duplex: 'half',
    });
    expect(await res.json()).toEqual({ bytes: chunk.length * chunks });
  });

  it('answers /healthz and unknown public paths as JSON', async () => {
    expect(await (await fetch(`${api.origin}/healthz`)).json()).toEqual({ ok: true });
    const missing = await fetch(`${api.origin}/public/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not_found' });
  });
});
