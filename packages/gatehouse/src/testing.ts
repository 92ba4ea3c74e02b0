/**
 * `@gatehouse/core/testing`: what the testkit, the end-to-end stack and the benchmarks use
 * beneath the public API (`@gatehouse/core`). No stability promise: these follow the internals,
 * and an application never needs them.
 *
 * @example
 * import { gatehouseInternals, type TokenSet } from '@gatehouse/core/testing';
 * const { vault } = gatehouseInternals(gatehouse);
 * const tokens = await vault.open<TokenSet>(record.tokens);
 *
 * @packageDocumentation
 */
export { gatehouseInternals, type GatehouseInternals } from './internals.ts';
export type { SessionRecord, TokenSet } from './session/model.ts';
export { Vault, type VaultKey } from './session/vault.ts';
export { PrometheusMetrics, NO_METRICS, type Metrics } from './observability/metrics.ts';
