/**
 * The current time in epoch milliseconds. Everything that compares against "now" (session
 * timeouts, key rotation, token reuse, store TTLs) takes one, so tests can move time instead of
 * sleeping.
 *
 * @example
 * ```ts
 * let now = Date.parse('2030-01-01T00:00:00Z');
 * const clock: Clock = () => now;
 * now += 60_000; // one minute later, without waiting
 * ```
 */
export type Clock = () => number;
