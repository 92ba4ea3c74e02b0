import { performance } from 'node:perf_hooks';
import * as client from 'openid-client';
import type { Logger } from 'pino';
import type { TenantRegistry } from '../tenants/registry.ts';
import type { ProviderClients } from './provider-clients.ts';

export interface ProviderWarmUpOptions {
  registry: Pick<TenantRegistry, 'tenants' | 'providers'>;
  providers: Pick<ProviderClients, 'client'>;
  logger: Logger;
  /** How long readiness waits for the warm-up at most (`providerWarmUpSeconds`); 0: no warm-up. */
  boundMs: number;
  /** How many providers are warmed at once (default 8). */
  concurrency?: number;
  /**
   * More first-use work of a sign-in, run once beside the providers (side-effect free: sealing
   * and opening a throwaway value, say); a failure is logged like a provider's.
   */
  firstUse?: () => Promise<unknown>;
}

/** What one warm-up did (logged at its end, and what {@link ProviderWarmUp.settled} gives). */
export interface WarmUpSummary {
  /** Enabled providers found. */
  providers: number;
  /** Discovery document and key set both ready. */
  warmed: number;
  /** Each logged; its first sign-in discovers again. */
  failed: number;
  durationMs: number;
}

const ACCEPT_JWKS = 'application/json, application/jwk-set+json';

/**
 * The start-up warm-up: for every enabled provider of every tenant (the config's and the
 * registry's), the openid-client `Configuration` the sign-ins use is made now — its discovery
 * document fetched — and the provider's key set (`jwks_uri`) fetched through that
 * Configuration's own fetch (guarded, metered, outage-reporting) and handed to openid-client's
 * cache (`setJwksCache`), which checks ID token signatures with it for as long as it keeps a
 * fetched set (5 minutes), then fetches again itself. So a new instance's first sign-in costs
 * what any other does. Nothing is trusted that a sign-in would not fetch itself; a failure is
 * logged, never thrown: that provider is discovered at its first sign-in as without a warm-up.
 * Readiness waits for it at most `boundMs` (`ready()`).
 */
export class ProviderWarmUp {
  readonly #options: ProviderWarmUpOptions;
  #run: Promise<WarmUpSummary> | undefined;
  #done = false;
  #deadline = 0;

  constructor(options: ProviderWarmUpOptions) {
    this.#options = options;
  }

  /** Starts the warm-up once (later calls do nothing); nothing at all with a bound of 0. */
  start(): void {
    if (this.#run || this.#options.boundMs <= 0) return;
    this.#deadline = performance.now() + this.#options.boundMs;
    this.#run = this.#warmAll().finally(() => {
      this.#done = true;
    });
  }

  /** False only while a started warm-up runs and its bound has not passed: `/readyz` waits. */
  ready(): boolean {
    return !this.#run || this.#done || performance.now() >= this.#deadline;
  }

  /**
   * Resolves when the warm-up is done or its bound has passed (at once when none was started);
   * never rejects.
   */
  async settled(): Promise<WarmUpSummary | undefined> {
    const run = this.#run;
    if (!run) return undefined;
    const left = this.#deadline - performance.now();
    if (this.#done || left <= 0) return this.#done ? run : undefined;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), left);
      timer.unref();
    });
    try {
      return await Promise.race([run, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #warmAll(): Promise<WarmUpSummary> {
    const { logger } = this.#options;
    const started = performance.now();
    let targets: Array<{ tenant: string; provider: string }> = [];
    try {
      for (const tenant of await this.#options.registry.tenants()) {
        for (const provider of await this.#options.registry.providers(tenant.id)) {
          if (provider.enabled) targets.push({ tenant: tenant.id, provider: provider.id });
        }
      }
    } catch (err) {
      // The registry's store is down: sign-ins fail the same way until it answers.
      logger.warn({ err }, 'provider warm-up skipped: the tenant registry could not be read');
      targets = [];
    }
    let failed = 0;
    const firstUse = this.#options.firstUse?.().catch((err: unknown) => {
      logger.warn({ err }, 'warm-up: first-use work failed');
    });
    const queue = [...targets];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        if (!(await this.#warm(next.tenant, next.provider))) failed += 1;
      }
    };
    await Promise.all([
      firstUse,
      ...Array.from({ length: Math.min(this.#options.concurrency ?? 8, queue.length) }, worker),
    ]);
    const summary = {
      providers: targets.length,
      warmed: targets.length - failed,
      failed,
      durationMs: Math.round(performance.now() - started),
    };
    logger.info(summary, 'providers warmed up');
    return summary;
  }

  /** One provider: its Configuration (discovery) and key set; false (logged) on any failure. */
  async #warm(tenant: string, provider: string): Promise<boolean> {
    const where = { tenant, provider };
    let configuration: client.Configuration;
    try {
      configuration = await this.#options.providers.client(tenant, provider);
    } catch (err) {
      this.#options.logger.warn(
        { ...where, err },
        'provider warm-up: discovery failed (retried at the first sign-in)',
      );
      return false;
    }
    const { jwks_uri: jwksUri } = configuration.serverMetadata();
    // A provider without a key set: its ID tokens cannot be checked by signature at all, which
    // the sign-in refuses; nothing to fetch ahead.
    if (!jwksUri) return true;
    const fetch = configuration[client.customFetch];
    try {
      if (!fetch) throw new Error('the provider client has no fetch');
      const response = await fetch(jwksUri, {
        method: 'GET',
        headers: { accept: ACCEPT_JWKS },
        body: undefined,
        redirect: 'manual',
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      const jwks: unknown = await response.json();
      if (!isKeySet(jwks)) throw new Error('not a JSON Web Key Set');
      client.setJwksCache(configuration, { jwks, uat: Math.floor(Date.now() / 1000) });
      return true;
    } catch (err) {
      this.#options.logger.warn(
        { ...where, err },
        'provider warm-up: key set not fetched (fetched at the first sign-in)',
      );
      return false;
    }
  }
}

/** The shape openid-client's cache accepts (it checks the keys themselves when it uses one). */
function isKeySet(value: unknown): value is client.JWKS {
  if (typeof value !== 'object' || value === null) return false;
  const { keys } = value as { keys?: unknown };
  return (
    Array.isArray(keys) &&
    keys.every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))
  );
}
