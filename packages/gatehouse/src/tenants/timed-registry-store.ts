import type { Metrics } from '../observability/metrics.ts';
import type { RegistryStore } from './registry-store.ts';

/**
 * The registry store with each operation timed, and its failures counted, in the store metrics
 * (`store="registry"`), as the session and key-value stores are at their ports. Metrics off: the
 * store itself, untouched. Failures pass through unchanged (the registry maps them).
 */
export function timedRegistryStore(store: RegistryStore, metrics: Metrics): RegistryStore {
  if (!metrics.enabled) return store;
  const timed = <A extends unknown[], R>(
    operation: string,
    call: (...args: A) => Promise<R>,
  ): ((...args: A) => Promise<R>) => {
    const observer = metrics.store('registry', operation);
    return async (...args: A): Promise<R> => {
      const startedAt = performance.now();
      try {
        const result = await call(...args);
        observer.done(startedAt, false);
        return result;
      } catch (error) {
        observer.done(startedAt, true);
        throw error;
      }
    };
  };
  return {
    snapshot: timed('snapshot', () => store.snapshot()),
    getTenant: timed('get_tenant', (id) => store.getTenant(id)),
    getProvider: timed('get_provider', (tenant, id) => store.getProvider(tenant, id)),
    createTenant: timed('create_tenant', (tenant) => store.createTenant(tenant)),
    updateTenant: timed('update_tenant', (tenant, revision) =>
      store.updateTenant(tenant, revision),
    ),
    deleteTenant: timed('delete_tenant', (id) => store.deleteTenant(id)),
    createProvider: timed('create_provider', (provider, options) =>
      store.createProvider(provider, options),
    ),
    updateProvider: timed('update_provider', (provider, revision) =>
      store.updateProvider(provider, revision),
    ),
    deleteProvider: timed('delete_provider', (tenant, id) => store.deleteProvider(tenant, id)),
    getClientKeys: timed('get_client_keys', (tenant, provider) =>
      store.getClientKeys(tenant, provider),
    ),
    putClientKeys: timed('put_client_keys', (keys, revision) =>
      store.putClientKeys(keys, revision),
    ),
    createApiKey: timed('create_api_key', (key, options) => store.createApiKey(key, options)),
    getApiKey: timed('get_api_key', (id) => store.getApiKey(id)),
    listApiKeys: timed('list_api_keys', (tenant) => store.listApiKeys(tenant)),
    deleteApiKey: timed('delete_api_key', (tenant, id) => store.deleteApiKey(tenant, id)),
    subscribe: (listener) => store.subscribe(listener),
    close: () => store.close(),
  };
}
