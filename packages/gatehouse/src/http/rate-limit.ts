import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { RateLimitName, RateLimitsConfig, RouteConfig } from '../config/schema.ts';
import { problem } from '../errors.ts';
import { describe } from '../observability/outages.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { RedisClient } from '../session/redis-connection.ts';

/** The metric label of each limit. */
const LIMIT_LABELS: Readonly<Record<RateLimitName, string>> = {
  loginStart: 'login_start',
  callback: 'callback',
  failedCallback: 'failed_callback',
  adminApi: 'admin_api',
  providerTest: 'provider_test',
  backchannelLogout: 'backchannel_logout',
};

/** How many refused keys are remembered for "logged once per window" before old ones go. */
const MAX_LOGGED_KEYS = 10_000;

interface Limit {
  /** The metric label (and Redis key prefix). */
  label: string;
  shared: RateLimiterAbstract;
  /** Same limit per process, used while the shared store fails (never a lock-out). */
  local: RateLimiterAbstract;
}

export interface RateLimitsOptions {
  config: RateLimitsConfig;
  /** API routes with a `rateLimit` of their own (per session). */
  routes?: readonly RouteConfig[];
  /** Shared counters in Redis (every instance counts together); memory without it. */
  redis: RedisClient | undefined;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The request limits (rate-limiter-flexible): counters in Redis shared by every instance, one
 * key per limit and client key (`gh:rl:<limit>:{<key>}`, one Cluster slot each). A refusal is
 * `429 rate_limited` with `Retry-After`, counted in metrics and logged once per key and window.
 * When Redis fails, each instance falls back to the same limits counted in its own memory and
 * says so once per outage: a store failure never locks users out.
 */
export class RateLimits {
  readonly #limits = new Map<string, Limit>();
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  /** Until when each refused key's refusal was logged. */
  readonly #logged = new Map<string, number>();
  #storeDown = false;

  constructor(options: RateLimitsOptions) {
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    const add = (
      key: string,
      label: string,
      limit: { points: number; durationSeconds: number },
    ) => {
      const settings = {
        points: limit.points,
        duration: limit.durationSeconds,
        keyPrefix: `gh:rl:${label}`,
      };
      const local = new RateLimiterMemory(settings);
      const shared = options.redis
        ? new RateLimiterRedis({ ...settings, storeClient: options.redis, useRedisPackage: false })
        : local;
      this.#limits.set(key, { label, shared, local });
    };
    for (const [name, limit] of Object.entries(options.config) as Array<
      [RateLimitName, RateLimitsConfig[RateLimitName]]
    >) {
      if (limit) add(name, LIMIT_LABELS[name], limit);
    }
    for (const route of options.routes ?? []) {
      if (route.rateLimit) add(route.prefix, `api:${route.prefix.slice(5)}`, route.rateLimit);
    }
  }

  /** Whether a limit is on. */
  enabled(name: RateLimitName): boolean {
    return this.#limits.has(name);
  }

  /**
   * Counts one call of an API route that opted in (`routes[].rateLimit`), through `/api` or
   * gateway mode alike: per session (by its public handle), per client address without one. A
   * route without a limit costs nothing.
   */
  async consumeRoute(
    prefix: string,
    caller: { handle?: string | undefined; ip?: string | undefined },
  ): Promise<void> {
    const limit = this.#limits.get(prefix);
    if (!limit) return;
    const key = caller.handle ? `session:${caller.handle}` : `ip:${caller.ip ?? 'unknown'}`;
    await this.#consume(limit, key);
  }

  /** Counts one request of `key` against `name`; throws `429 rate_limited` past the limit. */
  async consume(name: RateLimitName, key: string): Promise<void> {
    const limit = this.#limits.get(name);
    if (limit) await this.#consume(limit, key);
  }

  async #consume(limit: Limit, key: string): Promise<void> {
    const outcome = await this.#run(limit, (limiter) => limiter.consume(clusterKey(key)));
    if (outcome.refused && outcome.state) this.#refuse(limit, key, outcome.state);
  }

  /**
   * Refuses when `key` has used up `name` already, without counting (failed callbacks are
   * counted only when they fail: {@link RateLimits.consume} then).
   */
  async check(name: RateLimitName, key: string): Promise<void> {
    const limit = this.#limits.get(name);
    if (!limit) return;
    const { state } = await this.#run(limit, (limiter) => limiter.get(clusterKey(key)));
    if (state && state.consumedPoints >= limit.shared.points) this.#refuse(limit, key, state);
  }

  /**
   * Runs against the shared store, or the local one while the shared one fails; a refusal is
   * the limiter's rejection with a {@link RateLimiterRes}.
   */
  async #run(
    limit: Limit,
    operation: (limiter: RateLimiterAbstract) => Promise<RateLimiterRes | null>,
  ): Promise<{ refused: boolean; state: RateLimiterRes | null }> {
    try {
      const state = await operation(limit.shared);
      this.#storeAnswered();
      return { refused: false, state };
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        this.#storeAnswered();
        return { refused: true, state: error };
      }
      this.#storeFailed(error);
    }
    try {
      return { refused: false, state: await operation(limit.local) };
    } catch (error) {
      if (error instanceof RateLimiterRes) return { refused: true, state: error };
      throw error;
    }
  }

  #storeAnswered(): void {
    if (!this.#storeDown) return;
    this.#storeDown = false;
    this.#logger.info('rate limits: shared counters available again');
  }

  #storeFailed(error: unknown): void {
    if (this.#storeDown) return;
    this.#storeDown = true;
    this.#logger.warn(
      { reason: describe(error) },
      'rate limits: shared counters unavailable; counting per instance until Redis answers',
    );
  }

  #refuse(limit: Limit, key: string, state: RateLimiterRes): never {
    const { label } = limit;
    this.#metrics.rateLimited(label);
    const retryAfter = Math.max(1, Math.ceil(state.msBeforeNext / 1000));
    const now = Date.now();
    const logKey = `${label}\n${key}`;
    if ((this.#logged.get(logKey) ?? 0) <= now) {
      if (this.#logged.size >= MAX_LOGGED_KEYS) this.#prune(now);
      this.#logged.set(logKey, now + state.msBeforeNext);
      this.#logger.warn({ limit: label, key, retryAfterSeconds: retryAfter }, 'rate limit reached');
    }
    throw problem('rate_limited', { headers: { 'retry-after': String(retryAfter) } });
  }

  #prune(now: number): void {
    for (const [key, until] of this.#logged) if (until <= now) this.#logged.delete(key);
    // Still full of live windows: forget the oldest half (at worst a second log line).
    if (this.#logged.size >= MAX_LOGGED_KEYS) {
      let drop = this.#logged.size / 2;
      for (const key of this.#logged.keys()) {
        if (drop-- <= 0) break;
        this.#logged.delete(key);
      }
    }
  }
}

/** A Cluster hash tag around the client key; braces in it could not move it to another slot. */
const clusterKey = (key: string) => `{${key.replace(/[{}]/g, '_')}}`;

/**
 * Express middleware counting each request against `name` by `keyOf` (the client IP by
 * default: `req.ip`, which honours `TRUST_PROXY`).
 */
export function rateLimited(
  limits: RateLimits,
  name: RateLimitName,
  keyOf: (req: Request, res: Response) => string = clientIp,
): RequestHandler {
  if (!limits.enabled(name)) return (_req, _res, next) => next();
  return async (req, res, next) => {
    await limits.consume(name, keyOf(req, res));
    next();
  };
}

/** The client address as express sees it through the trusted proxies. */
export const clientIp = (req: Request): string => `ip:${req.ip ?? 'unknown'}`;
