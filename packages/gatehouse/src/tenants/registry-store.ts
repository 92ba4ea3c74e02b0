import { providerKey, type StoredApiKey, type StoredProvider, type StoredTenant } from './model.ts';
import type { StoredClientKeySet } from './client-key-model.ts';

/** Everything the dynamic registry holds that the in-process cache needs. */
export interface RegistrySnapshot {
  tenants: StoredTenant[];
  providers: StoredProvider[];
}

/** `missing`: the record (or, on create, its required tenant) does not exist. */
export type CreateResult = 'ok' | 'exists' | 'missing';
/** `conflict`: someone changed the record since it was read (compare-and-set on `revision`). */
export type UpdateResult = 'ok' | 'missing' | 'conflict';
export type DeleteResult = 'ok' | 'missing';
/** `conflict`: the key set's stored revision (0 when absent) is not the expected one. */
export type PutClientKeysResult = 'ok' | 'conflict';

export interface CreateOptions {
  /**
   * The record belongs to a dynamic tenant that must still exist when it is written (atomically:
   * a key or provider can never outlive a concurrently deleted tenant). False for config tenants.
   */
  requireTenant: boolean;
}

/**
 * Storage of dynamic tenants, providers and tenant API keys. One interface, a memory and a Redis
 * implementation, one contract suite (`test/registry.contract.test.ts`). Writes are atomic and
 * announce themselves to every subscriber — on every instance sharing the store.
 */
export interface RegistryStore {
  snapshot(): Promise<RegistrySnapshot>;
  getTenant(id: string): Promise<StoredTenant | undefined>;
  getProvider(tenant: string, id: string): Promise<StoredProvider | undefined>;
  createTenant(tenant: StoredTenant): Promise<Exclude<CreateResult, 'missing'>>;
  /** Replaces the tenant if its stored revision is still `expectedRevision`. */
  updateTenant(tenant: StoredTenant, expectedRevision: number): Promise<UpdateResult>;
  /** Deletes the tenant with its providers, API keys and client signing keys. */
  deleteTenant(id: string): Promise<DeleteResult>;
  createProvider(provider: StoredProvider, options: CreateOptions): Promise<CreateResult>;
  updateProvider(provider: StoredProvider, expectedRevision: number): Promise<UpdateResult>;
  /** Deletes the provider with its client signing keys. */
  deleteProvider(tenant: string, id: string): Promise<DeleteResult>;
  /** A provider's client signing keys (private_key_jwt), config providers' included. */
  getClientKeys(tenant: string, provider: string): Promise<StoredClientKeySet | undefined>;
  /**
   * Writes the key set if its stored revision is still `expectedRevision` (0: none stored yet),
   * and announces the change like a provider write.
   */
  putClientKeys(keys: StoredClientKeySet, expectedRevision: number): Promise<PutClientKeysResult>;
  createApiKey(key: StoredApiKey, options: CreateOptions): Promise<CreateResult>;
  getApiKey(id: string): Promise<StoredApiKey | undefined>;
  listApiKeys(tenant: string): Promise<StoredApiKey[]>;
  /** Deletes the key only if it belongs to `tenant`. */
  deleteApiKey(tenant: string, id: string): Promise<DeleteResult>;
  /**
   * Calls `listener` after any tenant or provider change by anyone sharing the store, and
   * whenever changes may have been missed (e.g. after a reconnect). Returns an unsubscribe.
   */
  subscribe(listener: () => void): () => void;
  close(): Promise<void>;
}

/** JSON round trip: callers never share objects with the store, exactly as with Redis. */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** In-process implementation (development without Redis, single-instance tests). */
export class MemoryRegistryStore implements RegistryStore {
  readonly #tenants = new Map<string, StoredTenant>();
  readonly #providers = new Map<string, StoredProvider>();
  readonly #apiKeys = new Map<string, StoredApiKey>();
  readonly #clientKeys = new Map<string, StoredClientKeySet>();
  readonly #listeners = new Set<() => void>();

  async snapshot(): Promise<RegistrySnapshot> {
    return copy({ tenants: [...this.#tenants.values()], providers: [...this.#providers.values()] });
  }

  async getTenant(id: string): Promise<StoredTenant | undefined> {
    const tenant = this.#tenants.get(id);
    return tenant && copy(tenant);
  }

  async getProvider(tenant: string, id: string): Promise<StoredProvider | undefined> {
    const provider = this.#providers.get(providerKey(tenant, id));
    return provider && copy(provider);
  }

  async createTenant(tenant: StoredTenant): Promise<'ok' | 'exists'> {
    if (this.#tenants.has(tenant.id)) return 'exists';
    this.#tenants.set(tenant.id, copy(tenant));
    this.#changed();
    return 'ok';
  }

  async updateTenant(tenant: StoredTenant, expectedRevision: number): Promise<UpdateResult> {
    const current = this.#tenants.get(tenant.id);
    if (!current) return 'missing';
    if (current.revision !== expectedRevision) return 'conflict';
    this.#tenants.set(tenant.id, copy(tenant));
    this.#changed();
    return 'ok';
  }

  async deleteTenant(id: string): Promise<DeleteResult> {
    if (!this.#tenants.delete(id)) return 'missing';
    for (const [key, provider] of this.#providers) {
      if (provider.tenant === id) this.#providers.delete(key);
    }
    for (const [key, apiKey] of this.#apiKeys) {
      if (apiKey.tenant === id) this.#apiKeys.delete(key);
    }
    for (const [key, keys] of this.#clientKeys) {
      if (keys.tenant === id) this.#clientKeys.delete(key);
    }
    this.#changed();
    return 'ok';
  }

  async createProvider(provider: StoredProvider, options: CreateOptions): Promise<CreateResult> {
    if (options.requireTenant && !this.#tenants.has(provider.tenant)) return 'missing';
    const key = providerKey(provider.tenant, provider.id);
    if (this.#providers.has(key)) return 'exists';
    this.#providers.set(key, copy(provider));
    this.#changed();
    return 'ok';
  }

  async updateProvider(provider: StoredProvider, expectedRevision: number): Promise<UpdateResult> {
    const key = providerKey(provider.tenant, provider.id);
    const current = this.#providers.get(key);
    if (!current) return 'missing';
    if (current.revision !== expectedRevision) return 'conflict';
    this.#providers.set(key, copy(provider));
    this.#changed();
    return 'ok';
  }

  async deleteProvider(tenant: string, id: string): Promise<DeleteResult> {
    if (!this.#providers.delete(providerKey(tenant, id))) return 'missing';
    this.#clientKeys.delete(providerKey(tenant, id));
    this.#changed();
    return 'ok';
  }

  async getClientKeys(tenant: string, provider: string): Promise<StoredClientKeySet | undefined> {
    const keys = this.#clientKeys.get(providerKey(tenant, provider));
    return keys && copy(keys);
  }

  async putClientKeys(
    keys: StoredClientKeySet,
    expectedRevision: number,
  ): Promise<PutClientKeysResult> {
    const key = providerKey(keys.tenant, keys.provider);
    if ((this.#clientKeys.get(key)?.revision ?? 0) !== expectedRevision) return 'conflict';
    this.#clientKeys.set(key, copy(keys));
    this.#changed();
    return 'ok';
  }

  async createApiKey(key: StoredApiKey, options: CreateOptions): Promise<CreateResult> {
    if (options.requireTenant && !this.#tenants.has(key.tenant)) return 'missing';
    if (this.#apiKeys.has(key.id)) return 'exists';
    this.#apiKeys.set(key.id, copy(key));
    return 'ok';
  }

  async getApiKey(id: string): Promise<StoredApiKey | undefined> {
    const key = this.#apiKeys.get(id);
    return key && copy(key);
  }

  async listApiKeys(tenant: string): Promise<StoredApiKey[]> {
    return copy([...this.#apiKeys.values()].filter((key) => key.tenant === tenant));
  }

  async deleteApiKey(tenant: string, id: string): Promise<DeleteResult> {
    if (this.#apiKeys.get(id)?.tenant !== tenant) return 'missing';
    this.#apiKeys.delete(id);
    return 'ok';
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}
