import { describe, expect, it } from 'vitest';
import { GatehouseError } from '../src/errors.ts';
import { KEY_VALUE_OPERATIONS } from '../src/session/kv.ts';
import { withStoreErrors } from '../src/session/store-errors.ts';
import { memoryStores } from './support/session-stores.ts';

/**
 * `session/store-errors.ts`: the one decorator between the store port and everything that uses
 * it. A failure is 503 `store_unavailable` (never a 500, a sign-out or "not found"); what the
 * store answers passes through as it is; the outage log hears of every outcome.
 */
function recordingHealth() {
  const heard: string[] = [];
  return {
    heard,
    health: {
      answered: () => heard.push('answered'),
      failed: (error: unknown) =>
        heard.push(`failed: ${error instanceof Error ? error.message : String(error)}`),
    },
  };
}

describe('withStoreErrors', () => {
  it('turns every failure of an operation into 503 store_unavailable, keeping the cause', async () => {
    const { kv } = memoryStores({
      faults: [
        { operation: 'get', fails: () => true },
        { operation: 'putIfExists', fails: () => true },
        { operation: 'indexMembers', fails: () => true },
      ],
    });
    for (const call of [
      () => kv.get('a'),
      () => kv.putIfExists('a', 'x', 1000),
      () => kv.indexMembers('i', 0),
    ]) {
      const failure = await call().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(GatehouseError);
      expect(failure).toMatchObject({ status: 503, code: 'store_unavailable' });
      expect((failure as Error).cause).toMatchObject({ message: 'connection reset' });
    }
  });

  it('passes answers through unchanged: absent, refused and written are not failures', async () => {
    const { kv } = memoryStores();
    expect(await kv.get('missing')).toBeUndefined();
    expect(await kv.putIfExists('missing', 'x', 1000)).toBe(false);
    expect(await kv.putIfAbsent('lock', 'a', 1000)).toBe(true);
    expect(await kv.putIfAbsent('lock', 'b', 1000)).toBe(false);
    expect(await kv.deleteIfEquals('lock', 'b')).toBe(false);
    expect(await kv.take('lock')).toBe('a');
  });

  it('tells the health watcher of each answer and each failure', async () => {
    const { heard, health } = recordingHealth();
    let down = false;
    const { kv } = memoryStores({
      health,
      faults: [{ operation: 'get', fails: () => down }],
    });
    await kv.put('a', '1', 1000);
    down = true;
    await expect(kv.get('a')).rejects.toMatchObject({ code: 'store_unavailable' });
    down = false;
    expect(await kv.get('a')).toBe('1');
    expect(heard).toEqual(['answered', 'failed: connection reset', 'answered']);
  });

  it('refuses a port that lacks a listed operation (a wiring mistake, at start-up)', () => {
    expect(() =>
      withStoreErrors({ get: async () => 'x' } as never, {
        store: 'kv',
        operations: KEY_VALUE_OPERATIONS,
      }),
    ).toThrow('the store has no put');
  });
});
