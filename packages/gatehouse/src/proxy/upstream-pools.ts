import { Agent, type Dispatcher } from 'undici';

/** How long an idle upstream connection is kept for reuse. */
const KEEP_ALIVE_MS = 10_000;

/**
 * Connection pools for API upstreams, one per route timeout, so that a connection attempt
 * ends at the route's timeout (undici's own default is 10 s) instead of lingering after the
 * request gave up. No cap on connections per upstream: each open event stream holds one for
 * its whole life.
 */
export class UpstreamPools {
  readonly #agents = new Map<number, Agent>();

  /** The pool whose connection attempts give up after `connectTimeoutMs`. */
  for(connectTimeoutMs: number): Dispatcher {
    let agent = this.#agents.get(connectTimeoutMs);
    if (!agent) {
      agent = new Agent({
        keepAliveTimeout: KEEP_ALIVE_MS,
        connect: { timeout: connectTimeoutMs },
      });
      this.#agents.set(connectTimeoutMs, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((agent) => agent.close()));
    this.#agents.clear();
  }
}
