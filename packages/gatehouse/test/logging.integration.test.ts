import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import { createCookieFetch, startStack, type Stack } from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { createLogger } from '../src/index.ts';
import { requestLogLevel } from '../src/http/app.ts';

interface LogEntry {
  level: number;
  msg?: string;
  err?: unknown;
  stack?: unknown;
  token?: string;
  req?: { id?: string; url?: string };
  res?: { statusCode?: number };
}

/** Log lines carry request ids and never a token, cookie, code, state or secret. */
describe('logging', () => {
  let stack: Stack;
  const lines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    stack = await startStack({
      deps: { logger: createLogger('debug', sink) },
      // Every proxied call logged too: redaction must hold for every line there can be.
      configure: (input) => ({ ...input, accessLogSampleRate: 1 }),
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('redacts everything secret across a whole login, API call and logout', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?returnTo=%2F`, {
      headers: { 'x-request-id': 'trace-me-123' },
    });
    const authorization = new URL(start.headers.get('location') ?? '');
    const callback = new URL(
      await completeDevIdpLogin(http, authorization.href, { login: 'alice', password: 'alice' }),
    );
    await http(callback.href);
    const cookie = (await http.cookie(stack.origin, 'gatehouse')) ?? '';
    await http(`${stack.origin}/api/demo/me`, {
      headers: { 'x-csrf': '1', authorization: 'Bearer browser-secret-token' },
    });
    const sid = /^s:([^.]+)\./.exec(decodeURIComponent(cookie))?.[1] ?? '';
    const context = gatehouseInternals(stack.gatehouses[0]!.gatehouse);
    const record = await context.sessions.read(sid);
    const tokens = await context.vault.open<{
      accessToken: string;
      refreshToken: string;
      idToken: string;
    }>(record?.tokens ?? '');
    await http(`${stack.origin}/bff/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });

    const log = lines.join('\n');
    expect(lines.length).toBeGreaterThan(4);
    expect(log).toContain('"trace-me-123"');
    for (const secret of [
      tokens.accessToken,
      tokens.refreshToken,
      tokens.idToken,
      cookie,
      sid,
      callback.searchParams.get('code') ?? 'missing-code',
      callback.searchParams.get('state') ?? 'missing-state',
      'browser-secret-token',
      'dev-only-acme-secret',
      'test-session-secret-0123456789abcdef',
    ]) {
      expect(secret.length).toBeGreaterThan(5);
      expect(log.includes(secret)).toBe(false);
    }
    const parsed = lines.map((line) => JSON.parse(line) as { req?: { id?: string } });
    expect(parsed.filter((entry) => entry.req?.id).length).toBeGreaterThan(3);
  });

  it('logs a refused revocation of the JWT access token as one info line without a stack', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?returnTo=%2F`);
    const authorization = new URL(start.headers.get('location') ?? '');
    await http(
      await completeDevIdpLogin(http, authorization.href, { login: 'alice', password: 'alice' }),
    );
    const from = lines.length;
    const logout = await http(`${stack.origin}/bff/logout`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    expect(logout.status).toBe(303);
    const entries = lines.slice(from).map((line) => JSON.parse(line) as LogEntry);
    const revocations = entries.filter((entry) => entry.msg?.startsWith('logout: '));
    expect(revocations).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'logout: the IdP does not revoke this token',
        token: 'access_token',
      }),
    ]);
    expect(entries.filter((entry) => entry.level >= 40)).toEqual([]);
    expect(lines.slice(from).join('\n')).not.toContain('"stack"');
  });

  it('logs no line for a successful health or readiness probe', async () => {
    const from = lines.length;
    expect((await fetch(`${stack.origin}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.origin}/readyz`)).status).toBe(200);
    expect((await fetch(`${stack.origin}/healthz?x=1`)).status).toBe(200);
    await fetch(`${stack.origin}/bff/session`);
    await expect
      .poll(() => lines.slice(from).some((line) => line.includes('/bff/session')))
      .toBe(true);
    const probes = lines.slice(from).filter((line) => /"url":"\/(?:healthz|readyz)/.test(line));
    expect(probes).toEqual([]);
  });

  it('still logs a failing readiness probe, and every other request', () => {
    expect(requestLogLevel({ url: '/readyz' }, { statusCode: 503 })).toBe('warn');
    expect(requestLogLevel({ url: '/readyz' }, { statusCode: 200 })).toBe('silent');
    expect(requestLogLevel({ url: '/healthz?probe=1' }, { statusCode: 200 })).toBe('silent');
    expect(requestLogLevel({ url: '/healthz/x' }, { statusCode: 404 })).toBe('info');
    expect(requestLogLevel({ url: '/bff/session' }, { statusCode: 200 })).toBe('info');
    expect(requestLogLevel({ url: '/api/demo/me' }, { statusCode: 500 })).toBe('error');
  });

  it('logs what the IdP said when it refuses a sign-in, and shows the user only our sentence', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login`);
    const state = new URL(start.headers.get('location') ?? '').searchParams.get('state') ?? '';
    const description = `User cancelled at the consent screen ${'x'.repeat(400)}`;
    const callback = new URLSearchParams({
      error: 'access_denied',
      error_description: description,
      state,
      iss: stack.idp.issuer(''),
    });
    const res = await http(`${stack.origin}/bff/callback/acme/dev?${callback.toString()}`, {
      headers: { accept: 'text/html', 'x-request-id': 'idp-refusal-1' },
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('The sign-in was cancelled or the identity provider refused it.');
    expect(page).toContain('The identity provider said: access_denied.');
    expect(page).not.toContain('User cancelled');

    // One line for the request: its access line, carrying the error's code and the IdP's words.
    let mine: Array<
      LogEntry & {
        reqId?: string;
        errorCode?: string;
        reason?: string;
        cause?: Record<string, string>;
      }
    > = [];
    await expect
      .poll(() => {
        mine = lines
          .map((line) => JSON.parse(line) as (typeof mine)[number])
          .filter((line) => line.req?.id === 'idp-refusal-1' || line.reqId === 'idp-refusal-1');
        return mine.some((line) => line.res?.statusCode);
      })
      .toBe(true);
    expect(mine).toHaveLength(1);
    const entry = mine[0];
    expect(entry).toMatchObject({
      level: 30,
      msg: 'request completed',
      res: { statusCode: 400 },
      errorCode: 'login_failed',
      reason: 'access_denied',
      tenant: 'acme',
      provider: 'dev',
    });
    expect(entry?.req?.url).toBe(
      '/bff/callback/acme/dev?error=…&error_description=…&state=…&iss=…',
    );
    expect(entry?.cause?.idpError).toBe('access_denied');
    // Length-limited: an IdP (or whoever forged the callback) cannot flood the log.
    expect(
      entry?.cause?.idpErrorDescription?.startsWith('User cancelled at the consent screen'),
    ).toBe(true);
    expect(entry?.cause?.idpErrorDescription?.length).toBeLessThanOrEqual(201);
  });

  it('never quotes an error code that is not a plain code on the sign-in page', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login`);
    const state = new URL(start.headers.get('location') ?? '').searchParams.get('state') ?? '';
    const hostile = 'Call +1 555 0100 to unlock your account <script>alert(1)</script>';
    const callback = new URLSearchParams({ error: hostile, state, iss: stack.idp.issuer('') });
    const res = await http(`${stack.origin}/bff/callback/acme/dev?${callback.toString()}`, {
      headers: { accept: 'text/html' },
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('The identity provider gave an error.');
    expect(page).not.toContain('555 0100');
    expect(page).not.toContain('<script>');
  });

  // Last: it stops the IdP.
  it('warns without a stack when the IdP cannot be reached to revoke, and still logs out', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?returnTo=%2F`);
    const authorization = new URL(start.headers.get('location') ?? '');
    await http(
      await completeDevIdpLogin(http, authorization.href, { login: 'alice', password: 'alice' }),
    );
    await stack.idp.close();
    const from = lines.length;
    const logout = await http(`${stack.origin}/bff/logout`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    });
    expect(logout.status).toBe(303);
    const entries = lines.slice(from).map((line) => JSON.parse(line) as LogEntry);
    const failures = entries.filter((entry) => entry.msg === 'logout: token revocation failed');
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect(failure.level).toBe(40);
    expect(lines.slice(from).join('\n')).not.toContain('"stack"');
  });
});
