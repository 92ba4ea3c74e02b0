import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import { createCookieFetch, startStack, type Stack } from '@gatehouse/testkit';
import { createLogger } from '../src/index.ts';

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
    stack = await startStack({ deps: { logger: createLogger('debug', sink) } });
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
    const { context } = stack.gatehouses[0]!.gatehouse;
    const record = (await context.sessions.read(sid))?.gh;
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
});
