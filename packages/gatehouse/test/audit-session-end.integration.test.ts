import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { userDigest } from '../src/digest.ts';
import { ADMIN_TOKEN, adminCall, withAdminToken } from './support/admin.ts';

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

  async function endedEvent(requestId: string) {
    const page = await adminCall(
      stack.origin,
      { name: 'operator', bearer: ADMIN_TOKEN },
      'GET',
      '/tenants/acme/audit?action=session.ended&limit=1000',
    );
    expect(page.status).toBe(200);
    return (page.body.events as Array<Record<string, unknown>>).find(
      (event) => event.requestId === requestId,
    );
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
