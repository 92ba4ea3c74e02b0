export { createGatehouse, type Gatehouse, type GatehouseDeps } from './gatehouse.ts';
export {
  loadConfig,
  ConfigError,
  type LoadConfigOptions,
  type LoadedConfig,
} from './config/load.ts';
export type {
  GatehouseConfig,
  ConfigInput,
  RouteConfig,
  TenantConfig,
  ProviderConfig,
} from './config/schema.ts';
export { GatehouseError } from './errors.ts';
export { validateReturnTo } from './http/return-to.ts';
export { createLogger, REDACTED_PATHS } from './observability/logger.ts';
export { MemorySessionStore, createRedisSessionStore, type Clock } from './session/stores.ts';
export { MemoryKeyValueStore, RedisKeyValueStore, type KeyValueStore } from './session/kv.ts';
export { Vault, type VaultKey } from './session/vault.ts';
export type { SessionRecord, TokenSet } from './session/model.ts';
export {
  createGuardedFetch,
  OutboundRequestBlocked,
  OUTBOUND_PUBLIC_MESSAGE,
} from './tenants/guarded-fetch.ts';
export type {
  GuardedFetch,
  GuardedFetchOptions,
  OutboundBlockReason,
} from './tenants/guarded-fetch.ts';
export { isPublicUnicastAddress } from './tenants/address-policy.ts';
