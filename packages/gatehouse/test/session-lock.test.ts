import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryKeyValueStore, type KeyValueStore } from '../src/session/kv.ts';
import { Lease } from '../src/session/lock.ts';

/**
 * The session lease (`session/lock.ts`) on a controllable clock: who holds it, for how long,
 * and that a holder who lost it can no longer release or renew it.
 */
const KEY = 'lock:{sid}';
const LEASE_MS = 3000;

function clockedStore() {
  const clock = { now: 1_800_000_000_000 };
  const kv = new MemoryKeyValueStore({ clock: () => clock.now });
  return { clock, kv };
}

describe('Lease: acquire and release', () => {
  it('is held by one owner at a time and free again once released', async () => {
    const { kv } = clockedStore();
    const first = new Lease(kv, KEY, LEASE_MS);
    const second = new Lease(kv, KEY, LEASE_MS);
    expect(await first.acquire()).toBe(true);
    expect(await second.acquire()).toBe(false);
    await first.release();
    expect(await kv.get(KEY)).toBeUndefined();
    expect(await second.acquire()).toBe(true);
  });

  it('can be taken again by its own owner, which extends it', async () => {
    const { clock, kv } = clockedStore();
    const lease = new Lease(kv, KEY, LEASE_MS);
    const other = new Lease(kv, KEY, LEASE_MS);
    expect(await lease.acquire()).toBe(true);
    clock.now += LEASE_MS - 1;
    expect(await lease.acquire()).toBe(true);
    // Past the first lease's end, still held: the second acquire renewed it.
    clock.now += LEASE_MS - 1;
    expect(await other.acquire()).toBe(false);
  });

  it('lets exactly one of many contenders win', async () => {
    const { kv } = clockedStore();
    const leases = Array.from({ length: 20 }, () => new Lease(kv, KEY, LEASE_MS));
    const won = await Promise.all(leases.map((lease) => lease.acquire()));
    expect(won.filter(Boolean)).toHaveLength(1);
  });

  it('locks one key only: other sessions are not blocked', async () => {
    const { kv } = clockedStore();
    expect(await new Lease(kv, 'lock:{a}', LEASE_MS).acquire()).toBe(true);
    expect(await new Lease(kv, 'lock:{b}', LEASE_MS).acquire()).toBe(true);
  });
});

describe('Lease: expiry', () => {
  it('expires exactly after its length when nobody renews it', async () => {
    const { clock, kv } = clockedStore();
    expect(await new Lease(kv, KEY, LEASE_MS).acquire()).toBe(true);
    const other = new Lease(kv, KEY, LEASE_MS);
    clock.now += LEASE_MS - 1;
    expect(await other.acquire()).toBe(false);
    clock.now += 1;
    expect(await other.acquire()).toBe(true);
  });

  it('a lost lease is not released by its old holder', async () => {
    const { clock, kv } = clockedStore();
    const old = new Lease(kv, KEY, LEASE_MS);
    const successor = new Lease(kv, KEY, LEASE_MS);
    await old.acquire();
    clock.now += LEASE_MS;
    expect(await successor.acquire()).toBe(true);
    await old.release();
    // Still the successor's: a third party cannot take it.
    expect(await new Lease(kv, KEY, LEASE_MS).acquire()).toBe(false);
  });

  it('a lost lease cannot be taken back by its old holder while the successor holds it', async () => {
    const { clock, kv } = clockedStore();
    const old = new Lease(kv, KEY, LEASE_MS);
    const successor = new Lease(kv, KEY, LEASE_MS);
    await old.acquire();
    clock.now += LEASE_MS;
    await successor.acquire();
    expect(await old.acquire()).toBe(false);
  });

  it('a release that cannot reach the store does not throw (the lease expires anyway)', async () => {
    const { kv } = clockedStore();
    const failing: KeyValueStore = {
      ...bound(kv),
      deleteIfEquals: () => Promise.reject(new Error('connection reset')),
    };
    const lease = new Lease(failing, KEY, LEASE_MS);
    await lease.acquire();
    await expect(lease.release()).resolves.toBeUndefined();
  });
});

describe('Lease: renewal while work runs', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the lease while renewed, and lets it expire once renewal stops', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const kv = new MemoryKeyValueStore({ clock: Date.now });
    const holder = new Lease(kv, KEY, LEASE_MS);
    const other = new Lease(kv, KEY, LEASE_MS);
    await holder.acquire();
    const stop = holder.keepRenewed();
    // Work that takes five lease lengths: the renewals every third of a lease keep it held.
    for (let elapsed = 0; elapsed < 5 * LEASE_MS; elapsed += LEASE_MS / 3) {
      await vi.advanceTimersByTimeAsync(LEASE_MS / 3);
      expect(await other.acquire()).toBe(false);
    }
    stop();
    await vi.advanceTimersByTimeAsync(LEASE_MS);
    expect(await other.acquire()).toBe(true);
  });

  it('outlives one failed renewal and renews at the next tick', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const kv = new MemoryKeyValueStore({ clock: Date.now });
    let failures = 1;
    const flaky: KeyValueStore = {
      ...bound(kv),
      renewIfEquals: (key, value, ttlMs) =>
        failures-- > 0
          ? Promise.reject(new Error('connection reset'))
          : kv.renewIfEquals(key, value, ttlMs),
    };
    const holder = new Lease(flaky, KEY, LEASE_MS);
    const other = new Lease(kv, KEY, LEASE_MS);
    await holder.acquire();
    const stop = holder.keepRenewed();
    await vi.advanceTimersByTimeAsync(LEASE_MS / 3); // fails
    await vi.advanceTimersByTimeAsync(LEASE_MS / 3); // renews
    await vi.advanceTimersByTimeAsync(LEASE_MS / 2); // past the first lease's end
    expect(await other.acquire()).toBe(false);
    stop();
  });

  it('does not renew a lease someone else took over', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const kv = new MemoryKeyValueStore({ clock: Date.now });
    const holder = new Lease(kv, KEY, LEASE_MS);
    await holder.acquire();
    // The holder stalls past its lease (renewal not started), a successor takes over.
    await vi.advanceTimersByTimeAsync(LEASE_MS);
    const successor = new Lease(kv, KEY, 2000);
    expect(await successor.acquire()).toBe(true);
    const stop = holder.keepRenewed();
    await vi.advanceTimersByTimeAsync(LEASE_MS / 3);
    stop();
    // The successor's lease was not extended by the old holder's renewal: it ends on time.
    await vi.advanceTimersByTimeAsync(2000 - LEASE_MS / 3);
    expect(await new Lease(kv, KEY, LEASE_MS).acquire()).toBe(true);
  });
});

/** The store's methods as own properties, so a test can replace one of them. */
function bound(kv: KeyValueStore): KeyValueStore {
  return {
    put: kv.put.bind(kv),
    putIfExists: kv.putIfExists.bind(kv),
    get: kv.get.bind(kv),
    getBytes: kv.getBytes.bind(kv),
    take: kv.take.bind(kv),
    putIfAbsent: kv.putIfAbsent.bind(kv),
    renewIfEquals: kv.renewIfEquals.bind(kv),
    deleteIfEquals: kv.deleteIfEquals.bind(kv),
    delete: kv.delete.bind(kv),
    addToIndex: kv.addToIndex.bind(kv),
    removeFromIndex: kv.removeFromIndex.bind(kv),
    indexMembers: kv.indexMembers.bind(kv),
  };
}
