/**
 * The keys development mode makes up for one process when none is configured (an encryption
 * key, a signing key): each has a kid of its own, which no other process ever uses. The key
 * check leaves them out: there is nothing to compare them with, and their fingerprints would
 * pile up in Redis, two more at every restart of a watched dev server.
 */
const madeUp = new WeakSet<object>();

/** Marks `key` as made up for this process; returns it. */
export function madeUpKey<T extends object>(key: T): T {
  madeUp.add(key);
  return key;
}

/** Whether `key` (the configuration's own object) was made up by {@link madeUpKey}. */
export function isMadeUpKey(key: object): boolean {
  return madeUp.has(key);
}
