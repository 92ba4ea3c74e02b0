import { randomUUID } from 'node:crypto';
import type { KeyValueStore } from './kv.ts';

/**
 * A lease-based lock in the shared store, owned by one random token. It can be taken again by
 * its own owner (a write kept in memory during an outage holds on to its lease), renewed while
 * work runs, and released only by its owner.
 */
export class Lease {
  readonly #kv: KeyValueStore;
  readonly #key: string;
  readonly #leaseMs: number;
  readonly #owner = randomUUID();

  constructor(kv: KeyValueStore, key: string, leaseMs: number) {
    this.#kv = kv;
    this.#key = key;
    this.#leaseMs = leaseMs;
  }

  /** Takes the lease, or extends it when it is still ours; false when someone else holds it. */
  async acquire(): Promise<boolean> {
    return (
      (await this.#kv.putIfAbsent(this.#key, this.#owner, this.#leaseMs)) ||
      (await this.#kv.renewIfEquals(this.#key, this.#owner, this.#leaseMs))
    );
  }

  /**
   * Renews the lease every third of its length until the returned function is called — so a
   * slow token endpoint cannot outlive the lock (the failure of fixed two-second leases).
   */
  keepRenewed(): () => void {
    const renewal = setInterval(
      () => {
        this.#kv.renewIfEquals(this.#key, this.#owner, this.#leaseMs).catch(() => {
          // A failed renewal is retried at the next tick; the lease outlives one miss.
        });
      },
      Math.max(10, Math.floor(this.#leaseMs / 3)),
    );
    return () => clearInterval(renewal);
  }

  /** Deletes the lease if it is still ours (best effort: it expires anyway). */
  async release(): Promise<void> {
    await this.#kv.deleteIfEquals(this.#key, this.#owner).catch(() => undefined);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
