import type { Clock } from '../../src/clock.ts';
import {
  KEY_VALUE_OPERATIONS,
  MemoryKeyValueStore,
  type KeyValueStore,
} from '../../src/session/kv.ts';
import type { SessionRecord } from '../../src/session/model.ts';
import { SessionStore } from '../../src/session/session-store.ts';
import { withStoreErrors } from '../../src/session/store-errors.ts';
import type { StoreHealth } from '../../src/session/store-health.ts';

/** One key-value operation that a test makes fail (a Redis blip or outage). */
export interface Fault {
  operation: keyof KeyValueStore;
  /** Whether this call fails (called once per call of the operation). */
  fails: (key: string) => boolean;
}

/**
 * The store port as Gatehouse builds it, in memory on a clock: the key-value store, decorated
 * once (`withStoreErrors`), under the core's {@link SessionStore}. `faults` make operations of
 * the raw store fail, before the decorator, as a failing Redis would.
 */
export function memoryStores(
  options: {
    clock?: Clock;
    idleTimeoutSeconds?: number;
    faults?: Fault[];
    health?: StoreHealth;
  } = {},
) {
  const clock = options.clock ?? Date.now;
  const raw = new MemoryKeyValueStore({ clock });
  const faulty: Record<string, unknown> = {};
  for (const name of Object.keys(KEY_VALUE_OPERATIONS) as Array<keyof KeyValueStore>) {
    const operation = raw[name].bind(raw) as (key: string, ...rest: unknown[]) => Promise<unknown>;
    const faults = (options.faults ?? []).filter((fault) => fault.operation === name);
    faulty[name] = async (key: string, ...rest: unknown[]) => {
      if (faults.some((fault) => fault.fails(key))) throw new Error('connection reset');
      return operation(key, ...rest);
    };
  }
  const kv = withStoreErrors(faulty as unknown as KeyValueStore, {
    store: 'kv',
    operations: KEY_VALUE_OPERATIONS,
    health: options.health,
  });
  const store = new SessionStore(kv, {
    idleTimeoutMs: (options.idleTimeoutSeconds ?? 3600) * 1000,
    clock,
  });
  return { kv, store, raw };
}

/** Fails the first `count` calls, then answers. */
export function firstCalls(count: number): () => boolean {
  let left = count;
  return () => left-- > 0;
}

/** A stored session as express-session writes it: its cookie beside the record. */
export const storedSession = (gh: SessionRecord) => ({
  cookie: { originalMaxAge: null, path: '/', httpOnly: true },
  gh,
});

/** A signed-in session's record as the store keeps it (sealed values are placeholders). */
export function sessionRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    v: 2,
    tenant: 'acme',
    provider: 'dev',
    issuer: 'http://localhost:4000',
    user: 'alice-digest',
    claims: 'sealed-claims',
    tokens: 'sealed',
    accessTokenExpiresAtMs: now + 300_000,
    createdAtMs: now,
    lastSeenAtMs: now,
    absoluteExpiresAtMs: now + 3_600_000,
    handle: 'h',
    device: 'test',
    ...overrides,
  };
}
