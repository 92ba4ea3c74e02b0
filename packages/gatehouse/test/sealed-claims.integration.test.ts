import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { userDigest } from '../src/digest.ts';

/**
 * Identity claims are sealed at rest: after a real sign-in (and a proxied call, a slide, the
 * sessions page), nothing in Redis — any key of any type — holds the user's email, name or raw
 * subject; `/bff/user` and the sessions list still show them, opened on read.
 */
describe('identity claims sealed at rest', () => {
  let redis: RedisServer;
  let stack: Stack;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({ redis });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  /** Every key in Redis with its whole value, whatever its type, as text. */
  async function dumpRedis(): Promise<{ keys: string[]; text: string }> {
    const client = redis.client();
    try {
      const keys = await client.keys('*');
      const parts: string[] = [];
      for (const key of keys) {
        const type = await client.type(key);
        parts.push(key, type);
        if (type === 'string') parts.push((await client.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await client.hgetall(key)));
        else if (type === 'zset')
          parts.push(JSON.stringify(await client.zrange(key, '0', '-1', 'WITHSCORES')));
        else if (type === 'set') parts.push(JSON.stringify(await client.smembers(key)));
        else if (type === 'list') parts.push(JSON.stringify(await client.lrange(key, 0, -1)));
        else if (type === 'stream') parts.push(JSON.stringify(await client.xrange(key, '-', '+')));
        // The serialized form too, whatever the type (binary, read as latin1).
        parts.push((await client.dumpBuffer(key))?.toString('latin1') ?? '');
      }
      return { keys, text: parts.join('\n') };
    } finally {
      await client.quit();
    }
  }

  it('keeps no email, name or subject of a signed-in user in Redis, and still shows them', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    const csrf = { 'x-csrf': '1' };
    expect((await http(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);

    const user = (await (await http(`${stack.origin}/bff/user`)).json()) as {
      claims: Record<string, unknown>;
    };
    // What the dev IdP says about alice: the test looks for exactly these values.
    expect(user.claims).toMatchObject({
      sub: 'alice',
      email: 'alice@acme.test',
      name: 'Alice Anderson',
    });
    const sessions = (await (await http(`${stack.origin}/bff/sessions`)).json()) as {
      user: { sub: string };
      sessions: unknown[];
    };
    expect(sessions.user.sub).toBe('alice');
    expect(sessions.sessions).toHaveLength(1);

    const { keys, text } = await dumpRedis();
    expect(keys.some((key) => key.startsWith('gh:sess:'))).toBe(true);
    expect(keys.some((key) => key.startsWith('gh:idx:user:'))).toBe(true);
    for (const identity of ['alice@acme.test', 'Alice Anderson', '"alice"']) {
      expect(text, identity).not.toContain(identity);
    }
    // What indexes need stays, as a digest.
    expect(text).toContain(userDigest(stack.idp.issuer(''), 'alice'));
  });

  it('reads a session written before claims were sealed (claims and sub in clear)', async () => {
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'bob', password: 'bob' });
    const { sid, record } = await inspectSession(stack, http);
    const context = gatehouseInternals(stack.gatehouses[0]!.gatehouse);
    const { user: _user, claims: _claims, ...rest } = record;
    const legacy = {
      ...rest,
      sub: 'bob',
      claims: { sub: 'bob', email: 'bob@acme.test', name: 'Bob Old-Record' },
    };
    const store = context.sessions.store;
    const stored = await store.load(sid);
    await store.save(sid, { ...stored!, gh: legacy as never });

    const answer = await http(`${stack.origin}/bff/user`);
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { claims: Record<string, unknown> };
    expect(body.claims).toMatchObject({ sub: 'bob', name: 'Bob Old-Record' });
    const list = (await (await http(`${stack.origin}/bff/sessions`)).json()) as {
      sessions: unknown[];
    };
    // Found through the same user index as before (the digest of issuer and sub).
    expect(list.sessions).toHaveLength(1);
    expect((await http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } })).status).toBe(
      200,
    );
  });
});
