/*
 * Over 300 lines on purpose: every Redis key, script and compare-and-set of the registry port
 * (registry-store.ts) sits in one file, so that the layout of the stored data is read in one place.
 */
import type { z } from 'zod';
import {
  providerKey,
  storedApiKeySchema,
  storedProviderSchema,
  storedTenantSchema,
  type StoredApiKey,
  type StoredProvider,
  type StoredTenant,
} from './model.ts';
import { storedClientKeySetSchema, type StoredClientKeySet } from './client-key-model.ts';
import {
  subscribeChannel,
  type ChannelSubscription,
  type RedisClient,
} from '../session/redis-connection.ts';
import type {
  CreateOptions,
  CreateResult,
  DeleteResult,
  PutClientKeysResult,
  RegistrySnapshot,
  RegistryStore,
  UpdateResult,
} from './registry-store.ts';

// Every script writes and announces in one atomic step: no instance can miss a change that
// was written, and no announcement precedes its write. Scripts answer 'ok' | 'exists' | ….
const CREATE_TENANT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 'exists' end
redis.call('PUBLISH', ARGV[3], 'changed')
return 'ok'`;

const UPDATE_IF_REVISION = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 'missing' end
local ok, decoded = pcall(cjson.decode, current)
if not ok or decoded.revision ~= tonumber(ARGV[3]) then return 'conflict' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], 'changed')
return 'ok'`;

// Tenant slugs cannot contain '/', so "<tenant>/" selects exactly that tenant's providers.
const DELETE_TENANT = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 'missing' end
local prefix = ARGV[1] .. '/'
for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
  if string.sub(field, 1, #prefix) == prefix then redis.call('HDEL', KEYS[2], field) end
end
local keys = redis.call('HGETALL', KEYS[3])
for i = 1, #keys, 2 do
  local ok, decoded = pcall(cjson.decode, keys[i + 1])
  if ok and decoded.tenant == ARGV[1] then redis.call('HDEL', KEYS[3], keys[i]) end
end
for _, field in ipairs(redis.call('HKEYS', KEYS[4])) do
  if string.sub(field, 1, #prefix) == prefix then redis.call('HDEL', KEYS[4], field) end
end
redis.call('PUBLISH', ARGV[2], 'changed')
return 'ok'`;

const CREATE_CHILD = `
if ARGV[2] == '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'missing' end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 0 then return 'exists' end
if ARGV[6] == '1' then redis.call('PUBLISH', ARGV[5], 'changed') end
return 'ok'`;

const DELETE_PROVIDER = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 'missing' end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'changed')
return 'ok'`;

// A missing key set is revision 0, so the first write (expected 0) creates it.
const PUT_CLIENT_KEYS = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
local revision = 0
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if not ok then return 'conflict' end
  revision = decoded.revision
end
if revision ~= tonumber(ARGV[3]) then return 'conflict' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], 'changed')
return 'ok'`;

const DELETE_API_KEY = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 'missing' end
local ok, decoded = pcall(cjson.decode, current)
if not ok or decoded.tenant ~= ARGV[2] then return 'missing' end
redis.call('HDEL', KEYS[1], ARGV[1])
return 'ok'`;

export interface RedisRegistryStoreOptions {
  /** Key prefix, default `gh:`. Keys share the `{registry}` hash tag (one Cluster slot). */
  prefix?: string;
  /** Told about subscriber connection problems (the store keeps retrying). */
  onError?: (error: unknown) => void;
}

/**
 * Redis implementation: four hashes (tenants, providers by `<tenant>/<id>`, API keys by id,
 * client signing keys by `<tenant>/<provider>`)
 * and a pub/sub channel. All keys share the `{registry}` hash tag, so every script and MULTI
 * stays in one Cluster slot. Changes are announced by the writing script itself (a PUBLISH
 * reaches every node of a Cluster); a dedicated subscriber connection delivers them, and after
 * every (re)subscription it reports a change too, since announcements made meanwhile are lost.
 */
export class RedisRegistryStore implements RegistryStore {
  readonly #redis: RedisClient;
  readonly #keys: {
    tenants: string;
    providers: string;
    apiKeys: string;
    clientKeys: string;
    channel: string;
  };
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<() => void>();
  #subscription: ChannelSubscription | undefined;

  constructor(redis: RedisClient, options: RedisRegistryStoreOptions = {}) {
    this.#redis = redis;
    const base = `${options.prefix ?? 'gh:'}{registry}:`;
    this.#keys = {
      tenants: `${base}tenants`,
      providers: `${base}providers`,
      apiKeys: `${base}apikeys`,
      clientKeys: `${base}clientkeys`,
      channel: `${base}changed`,
    };
    this.#onError = options.onError ?? (() => undefined);
  }

  async snapshot(): Promise<RegistrySnapshot> {
    // MULTI: both hashes from the same moment.
    const results = await this.#redis
      .multi()
      .hvals(this.#keys.tenants)
      .hvals(this.#keys.providers)
      .exec();
    // No answer at all is a failure, never "no tenants": an empty view would end every session
    // of a dynamic provider.
    if (!results) throw new Error('registry snapshot: no answer from MULTI');
    const [tenants, providers] = results.map(([error, value]) => {
      if (error) throw error;
      return value as string[];
    });
    return {
      tenants: parseAll(tenants ?? [], storedTenantSchema),
      providers: parseAll(providers ?? [], storedProviderSchema),
    };
  }

  async getTenant(id: string): Promise<StoredTenant | undefined> {
    return parseOne(await this.#redis.hget(this.#keys.tenants, id), storedTenantSchema);
  }

  async getProvider(tenant: string, id: string): Promise<StoredProvider | undefined> {
    const raw = await this.#redis.hget(this.#keys.providers, providerKey(tenant, id));
    return parseOne(raw, storedProviderSchema);
  }

  async createTenant(tenant: StoredTenant): Promise<'ok' | 'exists'> {
    const { tenants, channel } = this.#keys;
    return this.#run<'ok' | 'exists'>(
      CREATE_TENANT,
      [tenants],
      [tenant.id, JSON.stringify(tenant), channel],
    );
  }

  async updateTenant(tenant: StoredTenant, expectedRevision: number): Promise<UpdateResult> {
    const { tenants, channel } = this.#keys;
    return this.#run<UpdateResult>(
      UPDATE_IF_REVISION,
      [tenants],
      [tenant.id, JSON.stringify(tenant), String(expectedRevision), channel],
    );
  }

  async deleteTenant(id: string): Promise<DeleteResult> {
    const { tenants, providers, apiKeys, clientKeys, channel } = this.#keys;
    return this.#run<DeleteResult>(
      DELETE_TENANT,
      [tenants, providers, apiKeys, clientKeys],
      [id, channel],
    );
  }

  async createProvider(provider: StoredProvider, options: CreateOptions): Promise<CreateResult> {
    const field = providerKey(provider.tenant, provider.id);
    return this.#createChild(this.#keys.providers, provider.tenant, field, provider, options, true);
  }

  async updateProvider(provider: StoredProvider, expectedRevision: number): Promise<UpdateResult> {
    const { providers, channel } = this.#keys;
    return this.#run<UpdateResult>(
      UPDATE_IF_REVISION,
      [providers],
      [
        providerKey(provider.tenant, provider.id),
        JSON.stringify(provider),
        String(expectedRevision),
        channel,
      ],
    );
  }

  async deleteProvider(tenant: string, id: string): Promise<DeleteResult> {
    const { providers, clientKeys, channel } = this.#keys;
    return this.#run<DeleteResult>(
      DELETE_PROVIDER,
      [providers, clientKeys],
      [providerKey(tenant, id), channel],
    );
  }

  async getClientKeys(tenant: string, provider: string): Promise<StoredClientKeySet | undefined> {
    const raw = await this.#redis.hget(this.#keys.clientKeys, providerKey(tenant, provider));
    return parseOne(raw, storedClientKeySetSchema);
  }

  async putClientKeys(
    keys: StoredClientKeySet,
    expectedRevision: number,
  ): Promise<PutClientKeysResult> {
    const { clientKeys, channel } = this.#keys;
    return this.#run<PutClientKeysResult>(
      PUT_CLIENT_KEYS,
      [clientKeys],
      [
        providerKey(keys.tenant, keys.provider),
        JSON.stringify(keys),
        String(expectedRevision),
        channel,
      ],
    );
  }

  async createApiKey(key: StoredApiKey, options: CreateOptions): Promise<CreateResult> {
    // API keys are not cached anywhere: nothing to announce.
    return this.#createChild(this.#keys.apiKeys, key.tenant, key.id, key, options, false);
  }

  async getApiKey(id: string): Promise<StoredApiKey | undefined> {
    return parseOne(await this.#redis.hget(this.#keys.apiKeys, id), storedApiKeySchema);
  }

  async listApiKeys(tenant: string): Promise<StoredApiKey[]> {
    const all = parseAll(await this.#redis.hvals(this.#keys.apiKeys), storedApiKeySchema);
    return all.filter((key) => key.tenant === tenant);
  }

  async deleteApiKey(tenant: string, id: string): Promise<DeleteResult> {
    return this.#run<DeleteResult>(DELETE_API_KEY, [this.#keys.apiKeys], [id, tenant]);
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    this.#subscription ??= subscribeChannel(this.#redis, this.#keys.channel, {
      onSubscribed: () => this.#notify(),
      onMessage: () => this.#notify(),
      onError: this.#onError,
    });
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    const subscription = this.#subscription;
    this.#subscription = undefined;
    await subscription?.close();
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  async #createChild(
    hash: string,
    tenant: string,
    field: string,
    value: unknown,
    options: CreateOptions,
    announce: boolean,
  ): Promise<CreateResult> {
    return this.#run<CreateResult>(
      CREATE_CHILD,
      [this.#keys.tenants, hash],
      [
        tenant,
        options.requireTenant ? '1' : '0',
        field,
        JSON.stringify(value),
        this.#keys.channel,
        announce ? '1' : '0',
      ],
    );
  }

  async #run<T extends string>(script: string, keys: string[], args: string[]): Promise<T> {
    return (await this.#redis.eval(script, keys.length, ...keys, ...args)) as T;
  }
}

/** A record that does not parse (hand-edited, from a future version) is skipped, not fatal. */
function parseOne<T>(raw: string | null, schema: z.ZodType<T>): T | undefined {
  if (raw === null) return undefined;
  try {
    const result = schema.safeParse(JSON.parse(raw));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

function parseAll<T>(raws: string[], schema: z.ZodType<T>): T[] {
  return raws.flatMap((raw) => {
    const parsed = parseOne(raw, schema);
    return parsed === undefined ? [] : [parsed];
  });
}
