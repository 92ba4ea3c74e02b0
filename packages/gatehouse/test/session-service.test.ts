import { describe, expect, it } from 'vitest';
import { SessionService } from '../src/session/service.ts';
import {
  firstCalls,
  memoryStores,
  sessionRecord,
  storedSession,
} from './support/session-stores.ts';

const record = () => sessionRecord({ issuer: 'https://idp.example', tokens: 'sealed-v1' });

/** Memory stores whose conditional writes fail the first `failures` times (a Redis blip). */
function flakyStores(failures: number) {
  return memoryStores({
    idleTimeoutSeconds: 600,
    faults: [{ operation: 'putIfExists', fails: firstCalls(failures) }],
  });
}

function service({ store, kv }: ReturnType<typeof memoryStores>) {
  return new SessionService({ store, kv, clock: Date.now, idleTimeoutSeconds: 600 });
}

describe('SessionService.tryUpdate', () => {
  it('retries a failing write, so a rotated refresh token is not lost to a store blip', async () => {
    const stores = flakyStores(2);
    await stores.store.save('sid', storedSession(record()));
    const sessions = service(stores);
    const updated = await sessions.tryUpdate('sid', (current) => ({
      ...current,
      tokens: 'sealed-v2',
    }));
    expect(updated?.tokens).toBe('sealed-v2');
    expect((await sessions.read('sid'))?.tokens).toBe('sealed-v2');
  });

  it('gives up with 503 store_unavailable when the store stays down (a write that may be lost)', async () => {
    const stores = flakyStores(10);
    await stores.store.save('sid', storedSession(record()));
    const sessions = service(stores);
    await expect(
      sessions.tryUpdate('sid', (current) => ({ ...current, tokens: 'sealed-v2' })),
    ).rejects.toMatchObject({
      status: 503,
      code: 'store_unavailable',
    });
  });

  it('answers null (session gone) instead of writing a session that was ended meanwhile', async () => {
    const stores = memoryStores({ idleTimeoutSeconds: 600 });
    await stores.store.save('sid', storedSession(record()));
    const sessions = service(stores);
    const updated = await sessions.tryUpdate('sid', async (current) => {
      await stores.store.delete('sid'); // a logout lands while the token request is in flight
      return { ...current, tokens: 'sealed-v2' };
    });
    expect(updated).toBeNull();
    expect(await stores.store.load('sid')).toBeUndefined();
  });

  it('keeps a write it cannot store in memory, serves it, and stores it once the store is back', async () => {
    const stores = flakyStores(6);
    await stores.store.save('sid', storedSession(record()));
    const sessions = service(stores);
    const updated = await sessions.tryUpdate(
      'sid',
      (current) => ({ ...current, tokens: 'sealed-v2' }),
      { keepIfUnwritten: true },
    );
    expect(updated?.tokens).toBe('sealed-v2');
    const stored = await sessions.read('sid');
    expect(stored?.tokens).toBe('sealed-v1');
    expect(sessions.current('sid', stored!).tokens).toBe('sealed-v2');
    // Retried in the background with back-off until the store takes it.
    await expect
      .poll(async () => (await sessions.read('sid'))?.tokens, { timeout: 10_000 })
      .toBe('sealed-v2');
    sessions.close();
  });

  it('drops a kept write once someone else stored other tokens', async () => {
    const stores = flakyStores(1_000);
    await stores.store.save('sid', storedSession(record()));
    const sessions = service(stores);
    await sessions.tryUpdate('sid', (current) => ({ ...current, tokens: 'sealed-v2' }), {
      keepIfUnwritten: true,
    });
    const theirs = { ...record(), tokens: 'sealed-v3' };
    await stores.store.save('sid', storedSession(theirs));
    expect(sessions.current('sid', theirs).tokens).toBe('sealed-v3');
    // Forgotten for good: even the old record no longer gets the kept one.
    expect(sessions.current('sid', record()).tokens).toBe('sealed-v1');
    sessions.close();
  });
});
