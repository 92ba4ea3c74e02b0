import { describe, expect, it } from 'vitest';
import { MemoryKeyValueStore } from '../src/session/kv.ts';
import type { SessionRecord } from '../src/session/model.ts';
import { SessionService } from '../src/session/service.ts';
import { MemorySessionStore, storeOps } from '../src/session/stores.ts';

const record = (): SessionRecord => {
  const now = Date.now();
  return {
    v: 1,
    tenant: 'acme',
    provider: 'dev',
    issuer: 'https://idp.example',
    user: 'alice-digest',
    claims: 'sealed-claims',
    tokens: 'sealed-v1',
    accessTokenExpiresAt: Math.floor(now / 1000) + 300,
    createdAt: now,
    lastSeenAt: now,
    absoluteExpiresAt: now + 3_600_000,
    handle: 'h',
    device: 'test',
  };
};

/** A memory store whose conditional writes fail the first `failures` times (a Redis blip). */
function flakyStore(failures: number) {
  const store = new MemorySessionStore({ idleTimeoutSeconds: 600 });
  let left = failures;
  const setIfExists = store.setIfExists.bind(store);
  store.setIfExists = async (sid, sess) => {
    if (left-- > 0) throw new Error('connection reset');
    return setIfExists(sid, sess);
  };
  return store;
}

describe('SessionService.tryUpdate', () => {
  it('retries a failing write, so a rotated refresh token is not lost to a store blip', async () => {
    const store = flakyStore(2);
    await storeOps(store).set('sid', { cookie: { originalMaxAge: null }, gh: record() });
    const sessions = new SessionService({
      store,
      kv: new MemoryKeyValueStore(),
      clock: Date.now,
      idleTimeoutSeconds: 600,
    });
    const updated = await sessions.tryUpdate('sid', (current) => ({
      ...current,
      tokens: 'sealed-v2',
    }));
    expect(updated?.tokens).toBe('sealed-v2');
    expect((await sessions.read('sid'))?.gh?.tokens).toBe('sealed-v2');
  });

  it('gives up with 503 store_unavailable when the store stays down (a write that may be lost)', async () => {
    const store = flakyStore(10);
    await storeOps(store).set('sid', { cookie: { originalMaxAge: null }, gh: record() });
    const sessions = new SessionService({
      store,
      kv: new MemoryKeyValueStore(),
      clock: Date.now,
      idleTimeoutSeconds: 600,
    });
    await expect(
      sessions.tryUpdate('sid', (current) => ({ ...current, tokens: 'sealed-v2' })),
    ).rejects.toMatchObject({
      status: 503,
      code: 'store_unavailable',
    });
  });

  it('answers null (session gone) instead of writing a session that was ended meanwhile', async () => {
    const store = new MemorySessionStore({ idleTimeoutSeconds: 600 });
    const ops = storeOps(store);
    await ops.set('sid', { cookie: { originalMaxAge: null }, gh: record() });
    const sessions = new SessionService({
      store,
      kv: new MemoryKeyValueStore(),
      clock: Date.now,
      idleTimeoutSeconds: 600,
    });
    const updated = await sessions.tryUpdate('sid', async (current) => {
      await ops.destroy('sid'); // a logout lands while the token request is in flight
      return { ...current, tokens: 'sealed-v2' };
    });
    expect(updated).toBeNull();
    expect(await ops.get('sid')).toBeUndefined();
  });

  it('keeps a write it cannot store in memory, serves it, and stores it once the store is back', async () => {
    const store = flakyStore(6);
    await storeOps(store).set('sid', { cookie: { originalMaxAge: null }, gh: record() });
    const sessions = new SessionService({
      store,
      kv: new MemoryKeyValueStore(),
      clock: Date.now,
      idleTimeoutSeconds: 600,
    });
    const updated = await sessions.tryUpdate(
      'sid',
      (current) => ({ ...current, tokens: 'sealed-v2' }),
      { keepIfUnwritten: true },
    );
    expect(updated?.tokens).toBe('sealed-v2');
    const stored = (await sessions.read('sid'))?.gh;
    expect(stored?.tokens).toBe('sealed-v1');
    expect(sessions.current('sid', stored!).tokens).toBe('sealed-v2');
    // Retried in the background with back-off until the store takes it.
    await expect
      .poll(async () => (await sessions.read('sid'))?.gh?.tokens, { timeout: 10_000 })
      .toBe('sealed-v2');
    sessions.close();
  });

  it('drops a kept write once someone else stored other tokens', async () => {
    const store = flakyStore(1_000);
    const ops = storeOps(store);
    await ops.set('sid', { cookie: { originalMaxAge: null }, gh: record() });
    const sessions = new SessionService({
      store,
      kv: new MemoryKeyValueStore(),
      clock: Date.now,
      idleTimeoutSeconds: 600,
    });
    await sessions.tryUpdate('sid', (current) => ({ ...current, tokens: 'sealed-v2' }), {
      keepIfUnwritten: true,
    });
    const theirs = { ...record(), tokens: 'sealed-v3' };
    await ops.set('sid', { cookie: { originalMaxAge: null }, gh: theirs });
    expect(sessions.current('sid', theirs).tokens).toBe('sealed-v3');
    // Forgotten for good: even the old record no longer gets the kept one.
    expect(sessions.current('sid', record()).tokens).toBe('sealed-v1');
    sessions.close();
  });
});
