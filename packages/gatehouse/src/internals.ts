import type { GatehouseContext } from './context.ts';

/**
 * What tests, the end-to-end stack and benchmarks may reach beneath a running instance's public
 * API: the parts they inspect, not the whole set of dependencies the handlers are built from.
 *
 * @example
 * const { audit }: GatehouseInternals = gatehouseInternals(gatehouse);
 * await audit.settled();
 */
export type GatehouseInternals = Readonly<
  Pick<
    GatehouseContext,
    | 'config'
    | 'cookies'
    | 'vault'
    | 'registry'
    | 'sessions'
    | 'transactions'
    | 'audit'
    | 'metrics'
    | 'testControls'
  >
>;

const INTERNALS = new WeakMap<object, GatehouseInternals>();

/** Called once by `createGatehouse`: remembers the parts of `context` behind `gatehouse`. */
export function registerInternals(gatehouse: object, context: GatehouseContext): void {
  const { config, cookies, vault, registry, sessions, transactions, audit, metrics } = context;
  INTERNALS.set(gatehouse, {
    config,
    cookies,
    vault,
    registry,
    sessions,
    transactions,
    audit,
    metrics,
    testControls: context.testControls,
  });
}

/**
 * The internals of an instance made by `createGatehouse` (through `@gatehouse/core/testing`).
 *
 * @example
 * import { gatehouseInternals } from '@gatehouse/core/testing';
 * const { vault, config } = gatehouseInternals(gatehouse);
 * const idleMs = config.session.idleTimeoutSeconds * 1000;
 */
export function gatehouseInternals(gatehouse: object): GatehouseInternals {
  const internals = INTERNALS.get(gatehouse);
  if (!internals) throw new TypeError('not an instance made by createGatehouse');
  return internals;
}
