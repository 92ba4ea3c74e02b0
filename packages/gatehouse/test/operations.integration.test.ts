import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { createLogger } from '../src/index.ts';

/** Health, readiness, security headers — and a Redis outage is a 503, never "signed out". */
describe('operations', () => {
  let redis: RedisServer;
  let stack: Stack;
  const lines: string[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    stack = await startStack({ redis, deps: { logger: createLogger('debug', sink) } });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('serves health and readiness', async () => {
    expect((await fetch(`${stack.origin}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.origin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('keeps idle connections open longer than a load balancer or client would', async () => {
    // Node's default (5 s) lets Gatehouse close a kept-alive connection just as a proxy or a
    // browser reuses it; the answer is then a reset instead of a response.
    const res = await fetch(`${stack.origin}/healthz`);
    expect(res.headers.get('keep-alive')).toBe('timeout=65');
  });

  it('sends security headers and hides the framework', async () => {
    const res = await fetch(`${stack.origin}/bff/user`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-request-id')).toMatch(/^[\w-]+$/);
    // No CORS for anyone: a foreign origin gets no Access-Control-Allow-* at all.
    const cors = await fetch(`${stack.origin}/api/demo/me`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(cors.headers.get('access-control-allow-origin')).toBeNull();
    expect(cors.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('never lets a browser or proxy cache what /bff and the admin API answer', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    for (const path of ['/bff/user', '/bff/sessions', '/admin/api/openapi.json']) {
      const res = await http(`${stack.origin}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
    // The public key set is meant to be cached by resource servers.
    const jwks = await fetch(`${stack.origin}/.well-known/jwks.json`);
    expect(jwks.headers.get('cache-control')).not.toBe('no-store');
  });

  it('answers 503 store_unavailable while Redis is down, keeps the session record, and recovers', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    await redis.stop();
    const user = await http(`${stack.origin}/bff/user`);
    expect(user.status).toBe(503);
    expect(((await user.json()) as { code: string }).code).toBe('store_unavailable');
    const api = await http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } });
    expect(api.status).toBe(503);
    const from = lines.length;
    expect((await fetch(`${stack.origin}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.origin}/readyz`)).status).toBe(503);
    // The failing readiness probe is logged (a warning); the process's health probe, answered
    // before it, is not.
    const probes = () =>
      lines
        .slice(from)
        .map((line) => JSON.parse(line) as { level: number; req?: { url?: string } })
        .filter((entry) => entry.req?.url === '/readyz' || entry.req?.url === '/healthz')
        .map((entry) => [entry.req?.url, entry.level]);
    await expect.poll(probes).toEqual([['/readyz', 40]]);
    // The browser still has its cookie: nothing told it to sign out.
    expect(await http.cookie(stack.origin, 'gatehouse')).toBeDefined();

    // Redis comes back (empty: this one keeps nothing on disk): service resumes, no restart.
    redis = await startRedisServer({ port: redis.port });
    await expect.poll(async () => (await fetch(`${stack.origin}/readyz`)).status).toBe(200);
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    expect((await http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } })).status).toBe(
      200,
    );
  });
});
