import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { createLogger } from '../src/index.ts';
import { jsonLines } from './support/json-lines.ts';

const ERROR = 50;

interface LogLine {
  level: number;
  msg: string;
  err?: { stack?: string };
  stack?: string;
  errorCode?: string;
  res?: { statusCode?: number };
}

/**
 * A Redis outage, frozen (SIGSTOP) or killed and restarted from its append-only file, is a
 * `503 store_unavailable` for whoever needs the store — never a 401, never a reset connection —
 * and afterwards every session that existed before is still signed in.
 */
describe('Redis outage', () => {
  let redis: RedisServer;
  let stack: Stack;
  const lines: LogLine[] = [];
  const users: CookieFetch[] = [];

  beforeAll(async () => {
    const sink = jsonLines(lines);
    redis = await startRedisServer({ appendOnly: true });
    stack = await startStack({
      redis,
      devIdp: { controlApi: true },
      deps: { logger: createLogger('info', sink) },
    });
    for (const [index, login] of ['alice', 'bob', 'alice', 'bob'].entries()) {
      const http = createCookieFetch();
      await signIn(http, stack.origin, { login, password: login });
      users[index] = http;
    }
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const userCall = (http: CookieFetch) => http(`${stack.origin}/bff/user`);
  const apiCall = (http: CookieFetch) =>
    http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } });

  /** Every signed-in user, through the BFF and through the proxy, several times each. */
  async function everyoneCalls(): Promise<Array<{ status: number; code: string | undefined }>> {
    const calls = users.flatMap((http) => [userCall(http), apiCall(http), userCall(http)]);
    return Promise.all(
      calls.map(async (call) => {
        const res = await call;
        const body = (await res.json().catch(() => ({}))) as { code?: string };
        return { status: res.status, code: body.code };
      }),
    );
  }

  async function expectEveryoneSignedIn(): Promise<void> {
    for (const http of users) {
      expect((await userCall(http)).status).toBe(200);
      expect((await apiCall(http)).status).toBe(200);
    }
  }

  /** A logout token signed by the dev IdP's acme realm for Gatehouse's acme client. */
  async function logoutToken(claims: Record<string, unknown>): Promise<string> {
    const res = await fetch(`${stack.idp.origin}/__control/sign`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        realm: '',
        header: { typ: 'logout+jwt' },
        payload: {
          iss: stack.idp.issuer(''),
          aud: 'gatehouse-acme',
          iat: Math.floor(Date.now() / 1000),
          jti: randomUUID(),
          events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
          ...claims,
        },
      }),
    });
    return ((await res.json()) as { jwt: string }).jwt;
  }

  async function waitUntilReady(): Promise<void> {
    await expect
      .poll(async () => (await fetch(`${stack.origin}/readyz`)).status, { timeout: 15_000 })
      .toBe(200);
  }

  it('answers 503 while Redis is frozen and keeps every session', async () => {
    await expectEveryoneSignedIn();
    redis.pause();
    try {
      const answers = await everyoneCalls();
      expect(answers.length).toBe(users.length * 3);
      for (const answer of answers)
        expect(answer).toEqual({ status: 503, code: 'store_unavailable' });
    } finally {
      redis.resume();
    }
    await waitUntilReady();
    await expectEveryoneSignedIn();
  });

  it('answers 503 while Redis is dead and keeps every session when it restarts from its AOF', async () => {
    await expectEveryoneSignedIn();
    await redis.kill();
    try {
      for (let round = 0; round < 3; round += 1) {
        for (const answer of await everyoneCalls())
          expect(answer).toEqual({ status: 503, code: 'store_unavailable' });
      }
    } finally {
      await redis.restart();
    }
    await waitUntilReady();
    await expectEveryoneSignedIn();
  });

  it('answers 503 to a back-channel logout it cannot apply, and applies the retry', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const { record } = await inspectSession(stack, http);
    const token = await logoutToken({ sub: 'alice', sid: record.idpSid });
    const deliver = () =>
      fetch(`${stack.origin}/bff/backchannel-logout/acme/dev`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }),
      });

    // Frozen: a write sent now would still run when Redis resumes, after the answer.
    redis.pause();
    let refused: Response;
    try {
      refused = await deliver();
    } finally {
      redis.resume();
    }
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(((await refused.json()) as { code: string }).code).toBe('store_unavailable');
    const notApplied = lines.filter((line) =>
      line.msg.startsWith('back-channel logout not applied'),
    );
    expect(notApplied.map((line) => line.level)).toEqual([ERROR]);

    await waitUntilReady();
    // Not yet applied, so the session still works; the IdP's retry is not taken for a replay.
    expect((await userCall(http)).status).toBe(200);
    expect((await deliver()).status).toBe(200);
    expect((await userCall(http)).status).toBe(401);
    // Everyone else is untouched.
    await expectEveryoneSignedIn();
  });

  it('logs each outage once when it starts and once when it ends, and no stack at all', () => {
    const transitions = lines
      .filter((line) => /^Redis |^cannot reach Redis/.test(line.msg))
      .map((line) => `${line.level >= ERROR ? 'error' : 'info'}: ${line.msg}`);
    // Frozen, killed, frozen during the back-channel logout: a frozen Redis keeps its
    // connections and only stops answering; a killed one loses them.
    expect(transitions).toEqual([
      'info: Redis connected',
      'error: Redis is not answering',
      'info: Redis connected',
      'error: Redis connection lost; reconnecting',
      'info: Redis connected',
      'error: Redis is not answering',
      'info: Redis connected',
    ]);
    expect(lines.filter((line) => line.err?.stack ?? line.stack)).toEqual([]);
    // Each refused request is one access line, a warning, not an error.
    const refused = lines.filter((line) => line.errorCode === 'store_unavailable');
    expect(refused.every((line) => line.msg === 'request errored')).toBe(true);
    expect(refused.every((line) => line.res?.statusCode === 503)).toBe(true);
    expect(refused.length).toBeGreaterThanOrEqual(users.length * 3 * 4);
    expect(refused.every((line) => line.level < ERROR)).toBe(true);
    // The three transitions and the back-channel logout that was not applied.
    expect(lines.filter((line) => line.level >= ERROR).length).toBe(4);
  });
});
