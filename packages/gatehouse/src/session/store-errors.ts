import { performance } from 'node:perf_hooks';
import { problem } from '../errors.ts';
import { NO_METRICS, type Metrics } from '../observability/metrics.ts';
import { noHealth, type StoreHealth } from './store-health.ts';

/** The names of a port's asynchronous operations. */
type Operations<P> = {
  [K in keyof P]: P[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof P] &
  string;

export interface StoreErrorOptions<P> {
  /** The `store` label of the operation metrics. */
  store: Parameters<Metrics['store']>[0];
  /** Every operation of the port, with its `operation` label in the metrics. */
  operations: Readonly<Record<Operations<P>, string>>;
  /** Hears of every outcome (the outage log's view of the store). */
  health?: StoreHealth | undefined;
  metrics?: Metrics;
}

/**
 * The one place where a failure of the shared store becomes a problem: each operation of the
 * port, when it fails, throws 503 `store_unavailable` (its cause kept) — never a 500, never
 * "signed out", never "not found". `health` hears of every outcome, and with metrics on each
 * operation is timed and its failures counted under its label. What the operation answers
 * (found or not, written or not) passes through unchanged.
 *
 * Every member of the port must be an asynchronous operation listed in `operations`: the
 * decorated port has exactly those.
 *
 * @example
 * const kv = withStoreErrors(new RedisKeyValueStore(redis), {
 *   store: 'kv',
 *   operations: KEY_VALUE_OPERATIONS,
 *   health,
 *   metrics,
 * });
 */
export function withStoreErrors<P extends object>(port: P, options: StoreErrorOptions<P>): P {
  const health = options.health ?? noHealth;
  const metrics = options.metrics ?? NO_METRICS;
  const timed = metrics.enabled;
  const guarded: Record<string, unknown> = {};
  for (const [name, label] of Object.entries<string>(options.operations)) {
    const operation = (port as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
    if (typeof operation !== 'function') throw new TypeError(`the store has no ${name}`);
    const call = operation.bind(port);
    const observer = metrics.store(options.store, label);
    guarded[name] = async (...args: unknown[]): Promise<unknown> => {
      let result: unknown;
      const startedAt = timed ? performance.now() : 0;
      try {
        result = await call(...args);
      } catch (error) {
        if (timed) observer.done(startedAt, true);
        health.failed(error);
        throw problem('store_unavailable', { cause: error });
      }
      if (timed) observer.done(startedAt, false);
      health.answered();
      return result;
    };
  }
  return guarded as P;
}
