/*
 * Over 300 lines on purpose: one class whose cached view and writes share private state (the
 * view, the config's tenants, the store-error mapping of every access). What stands apart is
 * in registry-inputs.ts (the writers' inputs) and registry-view.ts (building the view).
 */
import { randomBytes } from 'node:crypto';
import { sameSecret, sha256 } from '../digest.ts';
import type { GatehouseConfig } from '../config/schema.ts';
import { problem } from '../errors.ts';
import type { StoreHealth } from '../session/store-health.ts';
import type { Vault } from '../session/vault.ts';
import type { Provider, StoredApiKey, StoredProvider, StoredTenant, Tenant } from './model.ts';
import type { RegistryStore } from './registry-store.ts';
import { providerSettingsOf, SECRET_AUTH_METHODS } from './provider-schema.ts';
import type {
  ApiKeySummary,
  BeforeProviderWrite,
  IssuedApiKey,
  ProviderCandidate,
  ProviderInput,
  ProviderPatch,
  TenantInput,
  TenantPatch,
} from './registry-inputs.ts';
import {
  buildView,
  configTenantEntry,
  dynamicProvider,
  dynamicTenant,
  type RegistryView,
  type TenantEntry,
} from './registry-view.ts';

export interface TenantRegistryOptions {
  config: GatehouseConfig;
  store: RegistryStore;
  /** Seals dynamic providers' client secrets (rotatable keys). */
  vault: Vault;
  clock?: () => number;
  /**
   * Hears whether each store access answered, like the session stores' accesses: a request
   * whose first store access is a registry read still tells the outage log that Redis is down.
   */
  health?: StoreHealth;
}

/** What a sealed client secret contains: bound to its provider, so it cannot be moved. */
interface SealedSecret {
  tenant: string;
  provider: string;
  secret: string;
}

const API_KEY = /^ghk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const readOnly = (what: string) =>
  problem('read_only', { detail: `This ${what} comes from the configuration file.` });

/**
 * The tenants and providers Gatehouse knows: those of the config file (read-only) merged with
 * the dynamic ones of the {@link RegistryStore}. Reads come from an in-process view, loaded on
 * first use and dropped whenever the store announces a change (from any instance), so a request
 * at steady state costs no store read. Writes always go to the store with fresh data.
 *
 * @example
 * const registry = new TenantRegistry({ config, store: new MemoryRegistryStore(), vault });
 * const tenant = await registry.tenantForEmailDomain('acme.test');
 */
export class TenantRegistry {
  readonly #store: RegistryStore;
  readonly #vault: Vault;
  readonly #clock: () => number;
  readonly #static: ReadonlyMap<string, TenantEntry>;
  readonly #health: StoreHealth | undefined;
  readonly #unsubscribe: () => void;
  #view: Promise<RegistryView> | undefined;

  constructor(options: TenantRegistryOptions) {
    this.#store = options.store;
    this.#vault = options.vault;
    this.#clock = options.clock ?? Date.now;
    this.#health = options.health;
    this.#static = new Map(options.config.tenants.map((t) => [t.id, configTenantEntry(t)]));
    this.#unsubscribe = this.#store.subscribe(() => this.invalidate());
  }

  /** Drops the cached view; the next read loads a fresh one. */
  invalidate(): void {
    this.#view = undefined;
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    await this.#store.close();
  }

  // ---- Reads (cached) ----

  async tenants(): Promise<Tenant[]> {
    return [...(await this.#current()).tenants.values()].map((entry) => entry.tenant);
  }

  async tenant(id: string): Promise<Tenant | undefined> {
    return (await this.#current()).tenants.get(id)?.tenant;
  }

  /** Home-realm discovery: the tenant owning this (lower-case) email domain. */
  async tenantForEmailDomain(domain: string): Promise<Tenant | undefined> {
    const view = await this.#current();
    const id = view.byDomain.get(domain.toLowerCase());
    return id === undefined ? undefined : view.tenants.get(id)?.tenant;
  }

  async tenantForHost(host: string): Promise<Tenant | undefined> {
    const view = await this.#current();
    const id = view.byHost.get(host.toLowerCase());
    return id === undefined ? undefined : view.tenants.get(id)?.tenant;
  }

  /** Every provider of the tenant, enabled or not (config ones first). */
  async providers(tenantId: string): Promise<Provider[]> {
    const entry = (await this.#current()).tenants.get(tenantId);
    return entry ? [...entry.providers.values()].map((p) => p.provider) : [];
  }

  async provider(tenantId: string, providerId: string): Promise<Provider | undefined> {
    return (await this.#current()).tenants.get(tenantId)?.providers.get(providerId)?.provider;
  }

  /** The provider's client secret in clear, for building its client; undefined when it has none. */
  async clientSecret(tenantId: string, providerId: string): Promise<string | undefined> {
    const entry = (await this.#current()).tenants.get(tenantId)?.providers.get(providerId);
    const source = entry?.secret;
    if (!source) return undefined;
    if ('plain' in source) return source.plain;
    return this.#openSecret(tenantId, providerId, source.sealed);
  }

  async #openSecret(tenantId: string, providerId: string, sealed: string): Promise<string> {
    const opened = await this.#vault.open<SealedSecret>(sealed);
    if (opened.tenant !== tenantId || opened.provider !== providerId) {
      throw problem('secret_mismatch');
    }
    return opened.secret;
  }

  /**
   * Seals again, under the current encryption key, every dynamic provider's client secret sealed
   * under an older one, so that the older key can be retired (README, Key rotation): the server
   * runs it at start-up, so rolling the instances after a key promotion does it. A
   * compare-and-set on the revision: of two instances doing it at once, one writes. Returns
   * how many this call re-sealed; a secret no configured key opens is left as it is.
   */
  async resealClientSecrets(): Promise<number> {
    const { providers } = await this.#write(() => this.#store.snapshot());
    let resealed = 0;
    for (const stored of providers) {
      const sealed = stored.sealedClientSecret;
      if (sealed === undefined || this.#vault.sealedWithCurrentKey(sealed)) continue;
      const opened = await this.#vault.open<SealedSecret>(sealed).catch(() => undefined);
      if (!opened || opened.tenant !== stored.tenant || opened.provider !== stored.id) continue;
      const next: StoredProvider = {
        ...stored,
        sealedClientSecret: await this.#seal(stored.tenant, stored.id, opened.secret),
        revision: stored.revision + 1,
        updatedAt: this.#clock(),
      };
      const result = await this.#write(() => this.#store.updateProvider(next, stored.revision));
      if (result === 'ok') resealed += 1;
    }
    if (resealed > 0) this.invalidate();
    return resealed;
  }

  /**
   * Whether a session may still be used: its provider exists, is enabled, still has the issuer
   * the session came from, and is not younger than the session (deleted and created again).
   */
  async isSessionProviderLive(session: {
    tenant: string;
    provider: string;
    issuer: string;
    createdAtMs: number;
  }): Promise<boolean> {
    const provider = await this.provider(session.tenant, session.provider);
    return (
      provider !== undefined &&
      provider.enabled &&
      provider.createdAt <= session.createdAtMs &&
      withoutTrailingSlash(provider.issuer) === withoutTrailingSlash(session.issuer)
    );
  }

  // ---- Tenant writes ----

  async createTenant(input: TenantInput): Promise<Tenant> {
    if (this.#static.has(input.id)) throw problem('tenant_exists');
    await this.#assertUniqueDomainsAndHosts(input.id, input.emailDomains, input.hosts);
    const now = this.#clock();
    const stored: StoredTenant = { ...input, revision: 1, createdAt: now, updatedAt: now };
    if ((await this.#write(() => this.#store.createTenant(stored))) === 'exists') {
      throw problem('tenant_exists');
    }
    this.invalidate();
    return dynamicTenant(stored);
  }

  async updateTenant(id: string, patch: TenantPatch): Promise<Tenant> {
    if (this.#static.has(id)) throw readOnly('organisation');
    const current = await this.#write(() => this.#store.getTenant(id));
    if (!current) throw problem('unknown_tenant');
    const next: StoredTenant = {
      ...current,
      ...definedOnly(patch),
      revision: current.revision + 1,
      updatedAt: this.#clock(),
    };
    await this.#assertUniqueDomainsAndHosts(id, next.emailDomains, next.hosts);
    const result = await this.#write(() => this.#store.updateTenant(next, current.revision));
    if (result === 'missing') throw problem('unknown_tenant');
    if (result === 'conflict') throw problem('conflict');
    this.invalidate();
    return dynamicTenant(next);
  }

  /** Deletes a dynamic tenant with its providers and API keys: their sessions stop working. */
  async deleteTenant(id: string): Promise<void> {
    if (this.#static.has(id)) throw readOnly('organisation');
    if ((await this.#write(() => this.#store.deleteTenant(id))) === 'missing') {
      throw problem('unknown_tenant');
    }
    this.invalidate();
  }

  // ---- Provider writes ----

  async createProvider(
    tenantId: string,
    input: ProviderInput,
    beforeWrite: BeforeProviderWrite,
  ): Promise<Provider> {
    const tenant = await this.#freshTenant(tenantId);
    if (this.#static.get(tenantId)?.providers.has(input.id)) throw problem('provider_exists');
    const { clientSecret, ...settings } = input;
    const candidate: ProviderCandidate = {
      ...settings,
      tenant: tenantId,
      hasClientSecret: clientSecret !== undefined,
    };
    assertSecretFitsMethod(candidate);
    await beforeWrite(candidate, clientSecret);
    const now = this.#clock();
    const stored: StoredProvider = {
      ...providerSettingsOf(candidate),
      id: input.id,
      tenant: tenantId,
      ...(clientSecret === undefined
        ? {}
        : { sealedClientSecret: await this.#seal(tenantId, input.id, clientSecret) }),
      revision: 1,
      createdAt: now,
      updatedAt: now,
    };
    const result = await this.#write(() =>
      this.#store.createProvider(stored, { requireTenant: tenant.source === 'dynamic' }),
    );
    if (result === 'exists') throw problem('provider_exists');
    if (result === 'missing') throw problem('unknown_tenant');
    this.invalidate();
    return dynamicProvider(stored);
  }

  async updateProvider(
    tenantId: string,
    providerId: string,
    patch: ProviderPatch,
    beforeWrite: BeforeProviderWrite,
  ): Promise<Provider> {
    await this.#freshTenant(tenantId);
    if (this.#static.get(tenantId)?.providers.has(providerId)) throw readOnly('provider');
    const current = await this.#write(() => this.#store.getProvider(tenantId, providerId));
    if (!current) throw problem('unknown_provider');

    const { clientSecret, idTokenSignedResponseAlg, ...settings } = patch;
    const { idTokenSignedResponseAlg: currentAlg, ...currentRecord } = current;
    const alg =
      idTokenSignedResponseAlg === null ? undefined : (idTokenSignedResponseAlg ?? currentAlg);
    const merged: StoredProvider = {
      ...currentRecord,
      ...providerSettingsOf({
        ...providerSettingsOf(current),
        ...definedOnly(settings),
        idTokenSignedResponseAlg: alg,
      }),
    };
    // Switching to a method without a secret (private_key_jwt) drops one that would no longer be used.
    const dropSecret =
      clientSecret === null ||
      (clientSecret === undefined && !SECRET_AUTH_METHODS.has(merged.tokenEndpointAuthMethod));
    const candidate: ProviderCandidate = {
      ...providerSettingsOf(merged),
      id: providerId,
      tenant: tenantId,
      hasClientSecret:
        typeof clientSecret === 'string' ||
        (!dropSecret && current.sealedClientSecret !== undefined),
    };
    assertSecretFitsMethod(candidate);
    const secretInUse =
      typeof clientSecret === 'string'
        ? clientSecret
        : dropSecret || current.sealedClientSecret === undefined
          ? undefined
          : // One no configured key opens anymore is reported by the credentials check.
            await this.#openSecret(tenantId, providerId, current.sealedClientSecret).catch(
              () => undefined,
            );
    await beforeWrite(candidate, secretInUse);

    const { sealedClientSecret: previousSecret, ...rest } = merged;
    const sealedClientSecret =
      typeof clientSecret === 'string'
        ? await this.#seal(tenantId, providerId, clientSecret)
        : dropSecret
          ? undefined
          : previousSecret;
    const next: StoredProvider = {
      ...rest,
      ...(sealedClientSecret === undefined ? {} : { sealedClientSecret }),
      revision: current.revision + 1,
      updatedAt: this.#clock(),
    };
    const result = await this.#write(() => this.#store.updateProvider(next, current.revision));
    if (result === 'missing') throw problem('unknown_provider');
    if (result === 'conflict') throw problem('conflict');
    this.invalidate();
    return dynamicProvider(next);
  }

  async deleteProvider(tenantId: string, providerId: string): Promise<void> {
    await this.#freshTenant(tenantId);
    if (this.#static.get(tenantId)?.providers.has(providerId)) throw readOnly('provider');
    const result = await this.#write(() => this.#store.deleteProvider(tenantId, providerId));
    if (result === 'missing') throw problem('unknown_provider');
    this.invalidate();
  }

  // ---- Tenant admin API keys ----

  async issueApiKey(tenantId: string, label?: string): Promise<IssuedApiKey> {
    const tenant = await this.#freshTenant(tenantId);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const stored: StoredApiKey = {
      id,
      tenant: tenantId,
      secretHash: sha256(secret),
      ...(label === undefined ? {} : { label }),
      createdAt: this.#clock(),
    };
    const result = await this.#write(() =>
      this.#store.createApiKey(stored, { requireTenant: tenant.source === 'dynamic' }),
    );
    if (result === 'missing') throw problem('unknown_tenant');
    if (result === 'exists') throw new Error('API key id collision');
    return { id, key: `ghk_${id}_${secret}`, label, createdAt: stored.createdAt };
  }

  async listApiKeys(tenantId: string): Promise<ApiKeySummary[]> {
    await this.#freshTenant(tenantId);
    const keys = await this.#write(() => this.#store.listApiKeys(tenantId));
    return keys
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id))
      .map(({ id, label, createdAt }) => ({ id, label, createdAt }));
  }

  async revokeApiKey(tenantId: string, keyId: string): Promise<void> {
    await this.#freshTenant(tenantId);
    if ((await this.#write(() => this.#store.deleteApiKey(tenantId, keyId))) === 'missing') {
      throw problem('unknown_api_key');
    }
  }

  /** The tenant a presented API key administers, or undefined (compared in constant time). */
  async verifyApiKey(presented: string): Promise<string | undefined> {
    const match = API_KEY.exec(presented);
    if (!match?.[1] || !match[2]) return undefined;
    const stored = await this.#write(() => this.#store.getApiKey(match[1] ?? ''));
    const same = sameSecret(stored?.secretHash ?? sha256('no key'), sha256(match[2]));
    if (!stored || !same) return undefined;
    return (await this.tenant(stored.tenant)) ? stored.tenant : undefined;
  }

  // ---- internals ----

  #current(): Promise<RegistryView> {
    if (this.#view) return this.#view;
    const loading = this.#write(() => this.#store.snapshot()).then((snapshot) =>
      buildView(this.#static, snapshot),
    );
    // A change announced while loading clears `#view`, so a stale result is not kept.
    this.#view = loading;
    loading.catch(() => {
      if (this.#view === loading) this.#view = undefined;
    });
    return loading;
  }

  /** Writes need the truth, not the cache: a tenant just created elsewhere must be found. */
  async #freshTenant(id: string): Promise<Tenant> {
    const configured = this.#static.get(id);
    if (configured) return configured.tenant;
    const stored = await this.#write(() => this.#store.getTenant(id));
    if (!stored) throw problem('unknown_tenant');
    return dynamicTenant(stored);
  }

  async #assertUniqueDomainsAndHosts(
    tenantId: string,
    domains: readonly string[],
    hosts: readonly string[],
  ): Promise<void> {
    const snapshot = await this.#write(() => this.#store.snapshot());
    const others = [
      ...[...this.#static.values()].map((entry) => entry.tenant),
      ...snapshot.tenants.map(dynamicTenant),
    ].filter((tenant) => tenant.id !== tenantId);
    for (const domain of domains) {
      if (others.some((tenant) => tenant.emailDomains.includes(domain))) {
        throw problem('email_domain_taken', {
          detail: `The email domain "${domain}" belongs to another organisation.`,
        });
      }
    }
    for (const host of hosts) {
      if (others.some((tenant) => tenant.hosts.includes(host))) {
        throw problem('host_taken', {
          detail: `The host "${host}" belongs to another organisation.`,
        });
      }
    }
  }

  async #seal(tenant: string, provider: string, secret: string): Promise<string> {
    const value: SealedSecret = { tenant, provider, secret };
    return this.#vault.seal(value);
  }

  /** Every store access, reads included: failures are "try again later", never "not found". */
  async #write<T>(operation: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await operation();
    } catch (error) {
      this.#health?.failed(error);
      throw problem('store_unavailable', { cause: error });
    }
    this.#health?.answered();
    return result;
  }
}

const withoutTrailingSlash = (issuer: string) => issuer.replace(/\/+$/, '');

function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(patch).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

function assertSecretFitsMethod(candidate: ProviderCandidate): void {
  const needsSecret = SECRET_AUTH_METHODS.has(candidate.tokenEndpointAuthMethod);
  if (needsSecret !== candidate.hasClientSecret) {
    throw problem('validation_failed', {
      detail: needsSecret
        ? `A client secret is required for ${candidate.tokenEndpointAuthMethod}.`
        : 'A client secret must not be set for this authentication method.',
      extra: {
        errors: [
          {
            path: 'clientSecret',
            message: needsSecret
              ? 'Required for this authentication method.'
              : 'Not used by this authentication method; remove it.',
          },
        ],
      },
    });
  }
}
