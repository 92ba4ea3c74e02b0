import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  freePort,
  signIn,
  startStack,
  type CookieFetch,
  type Stack,
} from '@gatehouse/testkit';
import type { ConfigInput } from '../src/index.ts';

/** The API proxy against the real demo API (and a hanging upstream): header policy, errors, paths. */
describe('API proxy', () => {
  let stack: Stack;
  let http: CookieFetch;
  let hanging: Server;
  let clearing: Server;
  let deadPort: number;
  const csrf = { 'x-csrf': '1' };

  beforeAll(async () => {
    // An upstream that accepts connections and never answers (for the 504).
    hanging = createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const hangingPort = (hanging.address() as AddressInfo).port;
    // An upstream that tells the browser to forget every cookie of the site, Gatehouse's too.
    clearing = createServer((_req, res) => {
      res.writeHead(200, { 'clear-site-data': '"cookies", "storage"', 'content-length': '2' });
      res.end('ok');
    });
    await new Promise<void>((resolve) => clearing.listen(0, '127.0.0.1', resolve));
    const clearingPort = (clearing.address() as AddressInfo).port;
    deadPort = await freePort();
    stack = await startStack({
      configure: (input: ConfigInput) => ({
        ...input,
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/public',
            upstream: `${input.routes?.[0]?.upstream}/public`,
            tokenMode: 'none',
          },
          {
            prefix: '/api/echo',
            upstream: `${input.routes?.[0]?.upstream}/public/echo`,
            tokenMode: 'user',
          },
          {
            prefix: '/api/optional',
            upstream: `${input.routes?.[0]?.upstream}/public/echo`,
            tokenMode: 'optional',
          },
          {
            prefix: '/api/readonly',
            upstream: `${input.routes?.[0]?.upstream}/public`,
            tokenMode: 'none',
            methods: ['GET'],
          },
          {
            prefix: '/api/cookies',
            upstream: `${input.routes?.[0]?.upstream}/public`,
            tokenMode: 'none',
            allowSetCookie: true,
          },
          {
            prefix: '/api/hanging',
            upstream: `http://127.0.0.1:${hangingPort}`,
            tokenMode: 'none',
            timeoutMs: 300,
          },
          { prefix: '/api/dead', upstream: `http://127.0.0.1:${deadPort}`, tokenMode: 'none' },
          {
            prefix: '/api/clearing',
            upstream: `http://127.0.0.1:${clearingPort}`,
            tokenMode: 'user',
            allowSetCookie: true,
          },
          {
            prefix: '/api/globex-only',
            upstream: `${input.routes?.[0]?.upstream}/public/echo`,
            tokenMode: 'user',
            tenants: ['globex'],
          },
        ],
      }),
    });
    http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
  });
  afterAll(async () => {
    await stack?.close();
    hanging?.closeAllConnections();
    await new Promise((resolve) => hanging?.close(resolve));
    clearing?.closeAllConnections();
    await new Promise((resolve) => clearing?.close(resolve));
  });

  interface Echo {
    method: string;
    path: string;
    headers: Record<string, string>;
    body: string;
  }

  it('drops the browser’s Cookie, Authorization and hop-by-hop headers and attaches the token', async () => {
    // node:http, because fetch() will not send a Connection header.
    const res = await rawRequest(
      stack.origin,
      '/api/echo/x?q=1&q=2',
      {
        ...csrf,
        cookie: (await http.jar.getCookieString(stack.origin)) ?? '',
        authorization: 'Bearer browser-supplied',
        'x-custom': 'kept',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': 'dropped',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.example',
        'content-type': 'text/plain',
      },
      'POST',
      'body text',
    );
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as Echo;
    expect(echo.method).toBe('POST');
    expect(echo.path).toBe('/public/echo/x?q=1&q=2');
    expect(echo.body).toBe('body text');
    expect(echo.headers.authorization).toBe('<present>');
    expect(echo.headers.cookie).toBeUndefined();
    expect(echo.headers['x-csrf']).toBeUndefined();
    expect(echo.headers['x-secret-hop']).toBeUndefined();
    expect(echo.headers['x-custom']).toBe('kept');
    expect(echo.headers['x-forwarded-for']).not.toContain('6.6.6.6');
    expect(echo.headers['x-forwarded-host']).toBe(new URL(stack.origin).host);
  });

  it('sends no token in `none` mode and the user’s token in `optional` mode only when signed in', async () => {
    const none = (await (
      await http(`${stack.origin}/api/public/echo`, { headers: csrf })
    ).json()) as Echo;
    expect(none.headers.authorization).toBeUndefined();
    const optional = (await (
      await http(`${stack.origin}/api/optional`, { headers: csrf })
    ).json()) as Echo;
    expect(optional.headers.authorization).toBe('<present>');
    const anonymous = (await (
      await fetch(`${stack.origin}/api/optional`, { headers: csrf })
    ).json()) as Echo;
    expect(anonymous.headers.authorization).toBeUndefined();
  });

  it('answers 401 problem+json (not a redirect) without a session on a `user` route', async () => {
    const res = await fetch(`${stack.origin}/api/demo/me`, { headers: csrf, redirect: 'manual' });
    expect(res.status).toBe(401);
    expect(res.headers.get('gatehouse-problem')).toBe('unauthenticated');
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe('unauthenticated');
  });

  it('does not follow upstream redirects and strips upstream Set-Cookie unless the route allows it', async () => {
    const redirect = await http(`${stack.origin}/api/public/redirect`, { headers: csrf });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('http://example.invalid/elsewhere');
    const stripped = await http(`${stack.origin}/api/public/set-cookie`, { headers: csrf });
    expect(stripped.headers.getSetCookie()).toEqual([]);
    const allowed = await http(`${stack.origin}/api/cookies/set-cookie`, { headers: csrf });
    expect(allowed.headers.getSetCookie()).toEqual(['upstream=1; Path=/']);
  });

  it('never relays an upstream’s Clear-Site-Data, which would delete the session cookie', async () => {
    const res = await http(`${stack.origin}/api/clearing/x`, { headers: csrf });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect(res.headers.get('clear-site-data')).toBeNull();
    // The session is still there (and its cookie was never asked to go).
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
  });

  it('streams a large request body through', async () => {
    const size = 5 * 1024 * 1024;
    const res = await http(`${stack.origin}/api/public/upload`, {
      method: 'POST',
      headers: { ...csrf, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(size),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { bytes: number }).bytes).toBe(size);
  });

  it('maps an unreachable upstream to 502 and a silent one to 504', async () => {
    const dead = await http(`${stack.origin}/api/dead/x`, { headers: csrf });
    expect(dead.status).toBe(502);
    expect(((await dead.json()) as { code: string }).code).toBe('upstream_unavailable');
    const slow = await http(`${stack.origin}/api/hanging/x`, { headers: csrf });
    expect(slow.status).toBe(504);
    expect(((await slow.json()) as { code: string }).code).toBe('upstream_timeout');
    // The session is untouched by upstream failures.
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
  });

  it('refuses methods the route does not allow with 405 and Allow', async () => {
    const res = await http(`${stack.origin}/api/readonly/echo`, {
      method: 'DELETE',
      headers: csrf,
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
  });

  it('refuses a route limited to another tenant', async () => {
    const res = await http(`${stack.origin}/api/globex-only`, { headers: csrf });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('tenant_not_allowed');
  });

  it.each([
    '/api/demo/../../bff/user',
    '/api/demo/%2e%2e/public/echo',
    '/api/demo/%2E%2E%2Fpublic',
    '/api/demo/%252e%252e/x',
    '/api/demo/..;/public/echo',
    '/api/demo//public/echo',
    '/api/demo/%5c..%5cpublic',
  ])('never forwards the traversal %s', async (path) => {
    const res = await rawRequest(stack.origin, path, {
      ...csrf,
      cookie: (await http.jar.getCookieString(stack.origin)) ?? '',
    });
    expect([400, 404]).toContain(res.status);
  });

  it('404s an unknown API route with problem+json', async () => {
    const res = await http(`${stack.origin}/api/nope/x`, { headers: csrf });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('gives every API answer the security headers and the request id, on the server’s direct path and through Express', async () => {
    const requestId = 'api-headers-check-1';
    // `/api/…` goes straight to the API handler; `/API/…` and `/api` go through Express's
    // mount to the same handler.
    const answers = {
      proxied: await http(`${stack.origin}/api/public/echo`, {
        headers: { ...csrf, 'x-request-id': requestId },
      }),
      unauthenticated: await fetch(`${stack.origin}/api/demo/me`, {
        headers: { ...csrf, 'x-request-id': requestId },
      }),
      csrfRefused: await fetch(`${stack.origin}/api/public/echo`, {
        headers: { 'x-request-id': requestId },
      }),
      viaExpressUpperCase: await fetch(`${stack.origin}/API/public/echo`, {
        headers: { ...csrf, 'x-request-id': requestId },
      }),
      viaExpressBare: await fetch(`${stack.origin}/api`, {
        headers: { ...csrf, 'x-request-id': requestId },
      }),
    };
    const statuses = Object.fromEntries(
      Object.entries(answers).map(([name, res]) => [name, res.status]),
    );
    expect(statuses).toEqual({
      proxied: 200,
      unauthenticated: 401,
      csrfRefused: 403,
      viaExpressUpperCase: 404,
      viaExpressBare: 404,
    });
    for (const [name, res] of Object.entries(answers)) {
      await res.arrayBuffer();
      expect({ name, id: res.headers.get('x-request-id') }).toEqual({ name, id: requestId });
      expect({ name, csp: res.headers.get('content-security-policy') }).toEqual({
        name,
        csp: expect.stringContaining("default-src 'self'") as unknown,
      });
      expect({ name, nosniff: res.headers.get('x-content-type-options') }).toEqual({
        name,
        nosniff: 'nosniff',
      });
      expect({ name, referrer: res.headers.get('referrer-policy') }).toEqual({
        name,
        referrer: 'no-referrer',
      });
      if (name !== 'proxied') {
        expect({ name, type: res.headers.get('content-type') }).toEqual({
          name,
          type: expect.stringContaining('application/problem+json') as unknown,
        });
      }
    }
    // One header line each (the upstream's answer and Gatehouse's own are merged, not doubled).
    const raw = await rawHeaders(stack.origin, '/api/public/echo', csrf);
    const names = raw.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase());
    expect(names.filter((name) => name === 'content-security-policy')).toHaveLength(1);
    expect(names.filter((name) => name === 'x-request-id')).toHaveLength(1);
  });
});

/** The raw header lines (name, value, name, value…) of a GET. */
async function rawHeaders(
  origin: string,
  path: string,
  headers: Record<string, string>,
): Promise<string[]> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.rawHeaders));
    });
    req.on('error', reject);
    req.end();
  });
}

/** fetch() normalises dot segments, so traversal attempts go out over a raw socket. */
async function rawRequest(
  origin: string,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}
