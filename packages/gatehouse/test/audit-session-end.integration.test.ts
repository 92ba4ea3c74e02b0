import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  createCookieFetch,
  inspectSession,
  type CookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { userDigest } from '../src/digest.ts';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { Vault } from '../src/session/vault.ts';
import { ADMIN_TOKEN, adminCall, withAdminToken } from './support/admin.ts';
import { damaged } from './support/damaged.ts';

/**
 * Sessions ended by a timeout or by their user. Gatehouse's clock is moved by the test while
 * Redis keeps real time: a request then finds its session past the limit while the store still
 * holds it (in real life, in the last moment before the store drops it at its deadline).
 */
describe('audit: sessions ended by timeouts and by their user', () => {
  let redis: RedisServer;
  let stack: Stack;
  const now = { ms: Date.now() };
  const IDLE_S = 3000;
  const ABSOLUTE_S = 3600;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      configure: (input) => ({
        ...withAdminToken(input),
        session: {
          ...input.session!,
          idleTimeoutSeconds: IDLE_S,
          absoluteTimeoutSeconds: ABSOLUTE_S,
        },
      }),
      deps: { clock: () => now.ms },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  /** Every `session.ended` event of acme's audit trail. */
  async function endedEvents() {
    const page = await adminCall(
      stack.origin,
      { name: 'operator', bearer: ADMIN_TOKEN },
      'GET',
      '/tenants/acme/audit?action=session.ended&limit=1000',
    );
    expect(page.status).toBe(200);
    return page.body.events as Array<Record<string, unknown>>;
  }

  async function endedEvent(requestId: string) {
    return (await endedEvents()).find((event) => event.requestId === requestId);
  }

  it('idle: the request that finds the session idle ends it, and is named', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    now.ms += (IDLE_S + 1) * 1000;
    const res = await http(`${stack.origin}/bff/user`, { headers: { 'x-request-id': 'idle-1' } });
    expect(res.status).toBe(401);
    expect(await endedEvent('idle-1')).toMatchObject({
      tenant: 'acme',
      action: 'session.ended',
      reason: 'idle',
      actor: { kind: 'system' },
      target: `user:${userDigest(stack.idp.issuer(''), 'bob')}`,
      outcome: 'success',
    });
  });

  it('idle: requests that find the session idle at the same moment end it once (one event)', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    now.ms += (IDLE_S + 1) * 1000;
    // Redis frozen while three calls of the SPA arrive: each has read the session (still
    // stored) before any of them deletes it, as happens when they come a moment apart.
    redis.pause();
    const calls = [1, 2, 3].map((n) =>
      http(`${stack.origin}/api/demo/me`, {
        headers: { 'x-csrf': '1', 'x-request-id': `idle-many-${n}` },
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    redis.resume();
    expect((await Promise.all(calls)).map((res) => res.status)).toEqual([401, 401, 401]);
    await gatehouseInternals(stack.gatehouses[0]!.gatehouse).audit.settled();
    const events = (await endedEvents()).filter((event) =>
      String(event.requestId).startsWith('idle-many-'),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reason: 'idle', actor: { kind: 'system' } });
  });

  it('logout: two tabs signing out at the same moment end the session once (one of each event)', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    // Both requests have read the session before either deletes it.
    redis.pause();
    const logouts = [1, 2].map((n) =>
      http(`${stack.origin}/bff/logout`, {
        method: 'POST',
        headers: { 'x-csrf': '1', 'x-request-id': `two-tabs-${n}` },
        redirect: 'manual',
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    redis.resume();
    expect((await Promise.all(logouts)).map((res) => res.status)).toEqual([303, 303]);
    await gatehouseInternals(stack.gatehouses[0]!.gatehouse).audit.settled();
    const page = await adminCall(
      stack.origin,
      { name: 'operator', bearer: ADMIN_TOKEN },
      'GET',
      '/tenants/acme/audit?limit=1000',
    );
    const events = (page.body.events as Array<Record<string, unknown>>).filter((event) =>
      String(event.requestId).startsWith('two-tabs-'),
    );
    expect(events.map((event) => event.action).sort()).toEqual(['session.ended', 'sign-out']);
    expect(events.find((event) => event.action === 'session.ended')).toMatchObject({
      reason: 'logout',
    });
  });

  it('absolute: a session kept busy still ends at the absolute limit', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    now.ms += 2000 * 1000;
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200); // slides the idle limit
    now.ms += 1700 * 1000;
    const res = await http(`${stack.origin}/bff/user`, { headers: { 'x-request-id': 'abs-1' } });
    expect(res.status).toBe(401);
    expect(await endedEvent('abs-1')).toMatchObject({
      reason: 'absolute',
      actor: { kind: 'system' },
    });
  });

  /**
   * As after a rotation whose old key was retired too early: one sealed field of the session's
   * record is sealed again under a kid this instance has no key for. The session id.
   */
  async function sealUnderRetiredKey(
    http: CookieFetch,
    field: 'claims' | 'tokens',
  ): Promise<string> {
    const value =
      field === 'claims' ? { sub: 'bob' } : { accessToken: 'at', expiresAtMs: now.ms + 3_600_000 };
    const gone = new Vault([{ kid: 'gone', key: randomBytes(32).toString('base64url') }]);
    const sealed = await gone.seal(value);
    return rewriteSealed(http, field, () => sealed);
  }

  /**
   * As after a disk or a hand in Redis altered it: one sealed field of the session's record has
   * a character of its ciphertext changed, under the key this instance shares with the fleet (its
   * key check passed), so no instance can open it. The session id.
   */
  function damageSealed(http: CookieFetch, field: 'claims' | 'tokens'): Promise<string> {
    return rewriteSealed(http, field, damaged);
  }

  /** Replaces one sealed field of the session's stored record. The session id. */
  async function rewriteSealed(
    http: CookieFetch,
    field: 'claims' | 'tokens',
    rewrite: (sealed: string) => string,
  ): Promise<string> {
    const { sid } = await inspectSession(stack, http);
    const client = redis.client();
    try {
      const stored = JSON.parse((await client.get(`gh:sess:${sid}`)) ?? '{}') as {
        gh: Record<string, string>;
      };
      stored.gh[field] = rewrite(stored.gh[field] ?? '');
      await client.set(`gh:sess:${sid}`, JSON.stringify(stored), 'KEEPTTL');
    } finally {
      client.disconnect();
    }
    return sid;
  }

  /** Whether the session's record is still in the store. */
  async function stored(sid: string): Promise<boolean> {
    const check = redis.client();
    try {
      return (await check.exists(`gh:sess:${sid}`)) === 1;
    } finally {
      check.disconnect();
    }
  }

  const unopenable = [
    ['retired-key', 'sealed under a key no longer configured', sealUnderRetiredKey],
    ['unreadable', 'damaged under the fleet’s own key', damageSealed],
  ] as const;

  it.each(unopenable)(
    '%s: tokens %s end the session at an API call (401, never a 500)',
    async (reason, _how, spoil) => {
      const http = createCookieFetch();
      await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
      const sid = await spoil(http, 'tokens');
      const res = await http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('gatehouse-problem')).toBe('session_expired');
      // Decided inside the token refresh, so without the request's id (as `refresh-failure`).
      expect(await endedEvents()).toContainEqual(
        expect.objectContaining({
          reason,
          target: `user:${userDigest(stack.idp.issuer(''), 'bob')}`,
        }),
      );
      expect(await stored(sid)).toBe(false);
    },
  );

  it.each(unopenable)(
    '%s: claims %s end the session at /bff/user; the console lists it without them',
    async (reason, _how, spoil) => {
      const http = createCookieFetch();
      await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
      const sid = await spoil(http, 'claims');
      // The console's list still answers, that session without its claims (never a 500).
      const listed = await adminCall(
        stack.origin,
        { name: 'operator', bearer: ADMIN_TOKEN },
        'GET',
        '/tenants/acme/sessions',
      );
      expect(listed.status).toBe(200);
      const { handle } = (await inspectSession(stack, http)).record;
      expect(
        (listed.body.sessions as Array<Record<string, unknown>>).find(
          (row) => row.handle === handle,
        ),
      ).toMatchObject({ sub: '', name: null });
      const requestId = `${reason}-claims`;
      const res = await http(`${stack.origin}/bff/user`, {
        headers: { 'x-request-id': requestId },
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code?: string }).code).toBe('session_expired');
      expect(await endedEvent(requestId)).toMatchObject({
        reason,
        actor: { kind: 'system' },
        target: `user:${userDigest(stack.idp.issuer(''), 'bob')}`,
      });
      // Ended, not merely refused: the record is gone from the store.
      expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
      expect(await stored(sid)).toBe(false);
    },
  );

  it('user: ending another of one’s own sessions from the sessions page', async () => {
    const laptop = createCookieFetch();
    const phone = createCookieFetch();
    await signIn(laptop, stack.origin, { login: 'alice', password: 'alice' });
    await signIn(phone, stack.origin, { login: 'alice', password: 'alice' });
    const res = await laptop(`${stack.origin}/bff/sessions/end-others`, {
      method: 'POST',
      headers: { 'x-csrf': '1', 'x-request-id': 'end-others-1' },
    });
    expect(res.status).toBe(204);
    const alice = userDigest(stack.idp.issuer(''), 'alice');
    expect(await endedEvent('end-others-1')).toMatchObject({
      reason: 'user',
      actor: { kind: 'user', id: alice },
      target: `user:${alice}`,
    });
    expect((await phone(`${stack.origin}/bff/user`)).status).toBe(401);
  });
});
