/**
 * `@gatehouse/core`: build a Gatehouse from a configuration and serve it.
 *
 * What an application needs and nothing more: {@link loadConfig} reads and checks the
 * configuration, {@link createGatehouse} builds the instance, and the types describe what is
 * configured. Tests, the testkit and benchmarks reach beneath it through
 * `@gatehouse/core/testing`.
 *
 * @example
 * import { createGatehouse, loadConfig } from '@gatehouse/core';
 * const { config, warnings } = loadConfig({ env: process.env });
 * const gatehouse = createGatehouse(config);
 * await gatehouse.listen(config.port, config.host);
 *
 * @packageDocumentation
 */
export {
  createGatehouse,
  type Gatehouse,
  type GatehouseDeps,
  type ListenOptions,
} from './gatehouse.ts';
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
export type { DrainResult } from './http/drain.ts';
export { createLogger } from './observability/logger.ts';
export { listenMergedMetrics, type MetricsSnapshot } from './observability/metrics-server.ts';
export type { Clock } from './clock.ts';
export type { RedisClient } from './session/redis-connection.ts';
export type { KeyCheckState } from './session/key-check.ts';
