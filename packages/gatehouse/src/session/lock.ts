import { randomUUID } from 'node:crypto';
import type { KeyValueStore } from './kv.ts';

export type LockResult<T> = { acquired: true; value: T } | { acquired: false };

/**
 * Runs `task` while holding a lease-based lock in the shared store, renewing the lease every
 * third of its length for as long as the task runs — so a slow token endpoint cannot outlive the
 * lock (the failure of fixed two-second leases). Returns `{ acquired: false }` at once when
 * someone else holds it; releasing only deletes our own lease.
 */
export async function withLock<T>(
  kv: KeyValueStore,
  key: string,
  leaseMs: number,
  task: () => Promise<T>,
): Promise<LockResult<T>> {
  const owner = randomUUID();
  if (!(await kv.putIfAbsent(key, owner, leaseMs))) return { acquired: false };
  const renewal = setInterval(
    () => {
      kv.renewIfEquals(key, owner, leaseMs).catch(() => {
        // A failed renewal is retried at the next tick; the lease outlives one miss.
      });
    },
    Math.max(10, Math.floor(leaseMs / 3)),
  );
  try {
    return { acquired: true, value: await task() };
  } finally {
    clearInterval(renewal);
    await kv.deleteIfEquals(key, owner).catch(() => undefined);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
