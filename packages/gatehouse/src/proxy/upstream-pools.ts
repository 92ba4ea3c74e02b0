import { Agent, type Dispatcher } from 'undici';

/**
 * How long an idle upstream connection is kept for reuse: less than the 5 s after which Node's
 * own HTTP server closes an idle keep-alive connection (its `keepAliveTimeout` default), so that
 * Gatehouse lets go of a connection before a Node upstream does, instead of sending a request
 * down it just as the upstream closes it. Servers that announce `Keep-Alive: timeout=N` are kept
 * for that long minus a second (undici); those that close sooner without saying so (some
 * balancers, gunicorn's 2 s) are what the retry of `forward.ts` on a fresh connection is for.
 */
const KEEP_ALIVE_MS = 4_000;

/** The two pools of one route timeout. */
export interface UpstreamPool {
  /** Kept-alive connections, reused from one call to the next. */
  pooled: Dispatcher;
  /**
   * A new connection for each request, closed after its answer (`pipelining: 0`: undici sends
   * `Connection: close` and never reuses it): for the one retry of a call whose pooled
   * connection the upstream closed under it, which another pooled connection, just as idle,
   * could fail the same way.
   */
  fresh: Dispatcher;
}

/**
 * Connection pools for API upstreams, one per route timeout, so that a connection attempt
 * ends at the route's timeout (undici's own default is 10 s) instead of lingering after the
 * request gave up. No cap on connections per upstream: each open event stream holds one for
 * its whole life.
 */
export class UpstreamPools {
  readonly #pools = new Map<number, UpstreamPool>();

  /** The pools whose connection attempts give up after `connectTimeoutMs`. */
  for(connectTimeoutMs: number): UpstreamPool {
    let pool = this.#pools.get(connectTimeoutMs);
    if (!pool) {
      const connect = { timeout: connectTimeoutMs };
      pool = {
        pooled: new Agent({ keepAliveTimeout: KEEP_ALIVE_MS, connect }),
        fresh: new Agent({ pipelining: 0, connect }),
      };
      this.#pools.set(connectTimeoutMs, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#pools.values()].flatMap((pool) => [pool.pooled.close(), pool.fresh.close()]),
    );
    this.#pools.clear();
  }
}
