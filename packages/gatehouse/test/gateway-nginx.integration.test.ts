import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  freePort,
  nginxGatewayHttp,
  signIn,
  startNginx,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type RunningNginx,
  type Stack,
} from '@gatehouse/testkit';
import { requestFrom } from './support/from-address.ts';

const SNIPPET = resolve(import.meta.dirname, '../../../deploy/nginx/gateway.conf');
const portOf = (origin: string) => Number(new URL(origin).port);

interface Problem {
  status: number;
  code: string;
}

/**
 * Gateway mode end to end: a real nginx (Debian's, with `auth_request`) runs the repository's
 * `deploy/nginx/gateway.conf` in front of the demo API, asking a Gatehouse instance (real Redis,
 * real dev IdP) about every request. Browser-like cookie clients talk to nginx only.
 */
describe('gateway mode behind nginx (deploy/nginx/gateway.conf)', () => {
  let redis: RedisServer;
  let stack: Stack;
  let nginx: RunningNginx;
  let offsetMs = 0;
  const clock = () => Date.now() + offsetMs;

  beforeAll(async () => {
    redis = await startRedisServer({ appendOnly: true });
    stack = await startStack({
      redis,
      devIdp: { controlApi: true, accessTokenTtlSeconds: 300 },
      deps: { clock },
      configure: (input) => ({
        ...input,
        // nginx connects from 127.0.0.1; test clients that play an outsider use 127.0.0.2.
        trustProxy: '127.0.0.1',
        gateway: { enabled: true },
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/backend',
            upstream: input.routes?.[0]?.upstream ?? '',
            tokenMode: 'user',
          },
        ],
      }),
    });
    nginx = await startNginx({
      http: nginxGatewayHttp({
        snippetPath: SNIPPET,
        gatehousePort: portOf(stack.origin),
        backendPort: portOf(stack.api.origin),
      }),
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    await stack?.close();
    await redis?.stop();
  });

  const refreshCalls = () => stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;

  async function signedIn(login = 'alice'): Promise<{ http: CookieFetch; sub: string }> {
    offsetMs = 0;
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login, password: login });
    const user = (await (await http(`${stack.origin}/bff/user`)).json()) as {
      claims: { sub: string };
    };
    return { http, sub: user.claims.sub };
  }

  async function expectProblem(res: Response, status: number, code: string): Promise<void> {
    const body = await res.text();
    expect(res.status, body).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('gatehouse-problem')).toBe(code);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(body) as Problem).toMatchObject({ status, code });
  }

  it('passes a signed-in GET to the API with the session’s verified token, never the cookie', async () => {
    const { http, sub } = await signedIn();
    const me = await http(`${nginx.origin}/backend/me`);
    expect(me.status).toBe(200);
    const verified = (await me.json()) as { sub: string; iss: string };
    expect(verified.sub).toBe(sub);
    expect(verified.iss).toBe(stack.idp.issuer(''));
    // Neither the token nor the identity headers come back to the browser.
    expect(me.headers.get('authorization')).toBeNull();
    expect(me.headers.get('x-gatehouse-subject')).toBeNull();

    // What the API receives: the bearer token and the identity headers, whatever the browser
    // sent in their place, and no cookie at all.
    const echo = await http(`${nginx.origin}/backend/public/echo`, {
      headers: {
        authorization: 'Bearer forged',
        'x-gatehouse-subject': 'mallory',
        'x-gatehouse-tenant': 'globex',
      },
    });
    expect(echo.status).toBe(200);
    const { headers } = (await echo.json()) as { headers: Record<string, string> };
    expect(headers.cookie).toBeUndefined();
    expect(headers.authorization).toBe('<present>');
    expect(headers['x-gatehouse-subject']).toBe(sub);
    expect(headers['x-gatehouse-tenant']).toBe('acme');
    expect(headers['x-gatehouse-issuer']).toBe(stack.idp.issuer(''));
    expect(headers['x-gatehouse-session']).toMatch(/^[A-Za-z0-9_-]{8,}$/);
  });

  it('answers 401 problem+json through nginx without a session, and an anonymous client’s headers never reach the API', async () => {
    const res = await fetch(`${nginx.origin}/backend/public/echo`, {
      headers: { authorization: 'Bearer forged', 'x-gatehouse-subject': 'mallory' },
    });
    await expectProblem(res, 401, 'unauthenticated');
    const forged = await fetch(`${nginx.origin}/backend/me`, {
      headers: { cookie: 'gatehouse=s%3Aforged.signature' },
    });
    await expectProblem(forged, 401, 'unauthenticated');
  });

  it('refuses an unsafe method without X-CSRF (403) and passes it with X-CSRF', async () => {
    const { http } = await signedIn();
    const json = { 'content-type': 'application/json' };
    const body = JSON.stringify({ text: 'through the gateway' });
    const refused = await http(`${nginx.origin}/backend/notes`, {
      method: 'POST',
      headers: json,
      body,
    });
    await expectProblem(refused, 403, 'csrf_header_required');

    // The browser's own copies of the original-request headers are replaced by nginx's.
    const disguised = await http(`${nginx.origin}/backend/notes`, {
      method: 'POST',
      headers: {
        ...json,
        'x-forwarded-method': 'GET',
        'x-original-method': 'GET',
        'x-original-uri': '/backend/me',
        'x-forwarded-uri': '/backend/me',
      },
      body,
    });
    await expectProblem(disguised, 403, 'csrf_header_required');

    const foreign = await http(`${nginx.origin}/backend/notes`, {
      method: 'POST',
      headers: { ...json, 'x-csrf': '1', origin: 'https://evil.example' },
      body,
    });
    await expectProblem(foreign, 403, 'foreign_origin');

    const created = await http(`${nginx.origin}/backend/notes`, {
      method: 'POST',
      headers: { ...json, 'x-csrf': '1' },
      body,
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as { text: string }).text).toBe('through the gateway');
    const list = await http(`${nginx.origin}/backend/notes`);
    expect(((await list.json()) as { notes: unknown[] }).notes).toHaveLength(1);
  });

  it('keeps the authorization endpoint away from browsers; the rest of /bff passes', async () => {
    const { http } = await signedIn();
    const direct = await http(`${nginx.origin}/bff/authz`, {
      headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/backend/me' },
    });
    expect(direct.status).toBe(404);
    expect(direct.headers.get('authorization')).toBeNull();
    // Other spellings reach Gatehouse through /bff/, without the browser's forwarded headers.
    for (const path of [
      '/bff/authz/',
      '/bff/AUTHZ',
      '/bff//authz',
      '/bff/%61uthz',
      '/bff/authz;',
    ]) {
      const res = await http(`${nginx.origin}${path}?route=backend`, {
        headers: {
          'x-forwarded-method': 'GET',
          'x-original-method': 'GET',
          'x-forwarded-uri': '/backend/me',
          'x-original-uri': '/backend/me',
        },
      });
      await res.arrayBuffer();
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('authorization'), path).toBeNull();
    }
    expect((await http(`${nginx.origin}/bff/user`)).status).toBe(200);
  });

  it('ignores original-request headers from a peer that TRUST_PROXY does not name', async () => {
    const { http } = await signedIn();
    const cookie = (await http.jar.getCookieString(stack.origin)) ?? '';
    for (const method of ['GET', 'POST']) {
      const answer = await requestFrom('127.0.0.2', `${stack.origin}/bff/authz?route=backend`, {
        method,
        headers: {
          cookie,
          'x-forwarded-method': 'GET',
          'x-original-method': 'GET',
          'x-forwarded-uri': '/backend/me',
          'x-original-uri': '/backend/me',
        },
      });
      expect(answer.status).toBe(403);
      expect(answer.headers['gatehouse-problem']).toBe('gateway_untrusted');
      expect(answer.headers.authorization).toBeUndefined();
    }
  });

  it('refreshes an expired access token during the authorization', async () => {
    const { http, sub } = await signedIn();
    const before = refreshCalls();
    offsetMs = 301_000; // the access token (300 s) has expired for Gatehouse
    const me = await http(`${nginx.origin}/backend/me`);
    expect(me.status).toBe(200);
    expect(((await me.json()) as { sub: string }).sub).toBe(sub);
    expect(refreshCalls() - before).toBe(1);
    // The refreshed token serves the next calls without another refresh.
    expect((await http(`${nginx.origin}/backend/me`)).status).toBe(200);
    expect(refreshCalls() - before).toBe(1);
  });

  it('answers 503 store_unavailable with Retry-After while Redis is down, and signs nobody out', async () => {
    const { http } = await signedIn();
    expect((await http(`${nginx.origin}/backend/me`)).status).toBe(200);
    await redis.kill();
    try {
      const res = await http(`${nginx.origin}/backend/me`);
      expect(res.headers.get('retry-after')).toBe('5');
      await expectProblem(res, 503, 'store_unavailable');
    } finally {
      await redis.restart();
    }
    // Back by itself, with the same session (polled: the client reconnects with back-off).
    await expect
      .poll(async () => (await http(`${nginx.origin}/backend/me`)).status, { timeout: 15_000 })
      .toBe(200);
  });

  it('is a plain 502 when Gatehouse cannot be reached at all', async () => {
    const orphan = await startNginx({
      http: nginxGatewayHttp({
        snippetPath: SNIPPET,
        gatehousePort: await freePort(),
        backendPort: portOf(stack.api.origin),
      }),
    });
    try {
      const res = await fetch(`${orphan.origin}/backend/me`);
      expect(res.status).toBe(502);
      expect(res.headers.get('gatehouse-problem')).toBeNull();
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    } finally {
      await orphan.stop();
    }
  });

  it('gives the client every refusal status the README lists, whatever Gatehouse answered', async () => {
    // nginx turns any answer of the subrequest but 2xx, 401 and 403 into a bare 500; the
    // snippet maps each back. A stand-in Gatehouse answers each status in turn with its
    // problem header (the real one's 404, say, needs a route it does not know).
    const STATUSES = [400, 401, 403, 404, 405, 429, 502, 503, 504];
    let next = 0;
    const standIn = createServer((_req, res) => {
      const status = STATUSES[next] ?? 500;
      res.writeHead(status, {
        'content-type': 'application/problem+json',
        'gatehouse-problem': `code_${status}`,
        ...(status === 429 || status === 503 ? { 'retry-after': '7' } : {}),
      });
      res.end(JSON.stringify({ status, code: `code_${status}` }));
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    const mapped = await startNginx({
      http: nginxGatewayHttp({
        snippetPath: SNIPPET,
        gatehousePort: (standIn.address() as AddressInfo).port,
        backendPort: portOf(stack.api.origin),
      }),
    });
    try {
      for (const [index, status] of STATUSES.entries()) {
        next = index;
        const res = await fetch(`${mapped.origin}/backend/me`);
        await expectProblem(res, status, `code_${status}`);
        if (status === 429 || status === 503) expect(res.headers.get('retry-after')).toBe('7');
      }
    } finally {
      await mapped.stop();
      await new Promise((resolve) => standIn.close(resolve));
    }
  });

  // Last: the IdP stays down.
  it('answers 502 idp_unavailable when the IdP fails during a refresh, keeping the session', async () => {
    const { http } = await signedIn();
    offsetMs = 301_000;
    await stack.idp.close();
    const res = await http(`${nginx.origin}/backend/me`);
    await expectProblem(res, 502, 'idp_unavailable');
    expect((await http(`${nginx.origin}/bff/user?slide=false`)).status).toBe(200);
  });
});
