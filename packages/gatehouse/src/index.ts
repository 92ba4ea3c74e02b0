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
  RedisConfig,
} from './config/schema.ts';
export { GatehouseError } from './errors.ts';
export { validateReturnTo } from './http/return-to.ts';
export { createLogger, REDACTED_PATHS } from './observability/logger.ts';
export { NO_METRICS, PrometheusMetrics, type Metrics } from './observability/metrics.ts';
export type { Clock } from './clock.ts';
export { SessionStore, type StoredSession } from './session/session-store.ts';
export { MemoryKeyValueStore, RedisKeyValueStore, type KeyValueStore } from './session/kv.ts';
export { Vault, type VaultKey } from './session/vault.ts';
export {
  createRedisClient,
  closeRedis,
  describeRedis,
  type RedisClient,
} from './session/redis-connection.ts';
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
export { TenantRegistry } from './tenants/registry.ts';
export type {
  TenantInput,
  TenantPatch,
  ProviderInput,
  ProviderPatch,
  ProviderCandidate,
} from './tenants/registry.ts';
export { MemoryRegistryStore, type RegistryStore } from './tenants/registry-store.ts';
export { RedisRegistryStore } from './tenants/redis-registry-store.ts';
export type { Tenant, Provider, AdminRule, TokenEndpointAuthMethod } from './tenants/model.ts';
export {
  createProviderChecker,
  ProviderCheckFailed,
  PROVIDER_CHECKS,
  type ProviderCheck,
  type ProviderChecker,
} from './tenants/provider-checks.ts';
export { ADMIN_ROUTES } from './admin/routes.ts';
export type { AdminPrincipal } from './admin/auth.ts';
