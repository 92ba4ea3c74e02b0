import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { GatehouseConfig } from './config/schema.ts';
import type { ConnectionDrain } from './http/drain.ts';
import type { RateLimits } from './http/rate-limit.ts';
import type { Metrics } from './observability/metrics.ts';
import type { AuditLog } from './observability/audit.ts';
import type { BackchannelLogout } from './oidc/backchannel.ts';
import type { ProviderClients } from './oidc/provider-clients.ts';
import type { TokenRefresher } from './oidc/refresh.ts';
import type { UpstreamPools } from './proxy/upstream-pools.ts';
import type { KeyValueStore } from './session/kv.ts';
import type { CookieNames } from './session/cookie-names.ts';
import type { SessionService } from './session/service.ts';
import type { SessionTestControls } from './session/test-controls.ts';
import type { Vault } from './session/vault.ts';
import type { ProviderChecker } from './tenants/provider-checks.ts';
import type { TenantRegistry } from './tenants/registry.ts';
import type { ClientKeys } from './tenants/client-keys.ts';
import type { DownstreamTokenMinter } from './tokens/downstream-tokens.ts';
import type { SigningKeyRing } from './tokens/key-ring.ts';

/** Everything a request handler needs, built once per Gatehouse instance by `createGatehouse`. */
export interface GatehouseContext {
  config: GatehouseConfig;
  publicOrigin: string;
  logger: Logger;
  clock: Clock;
  vault: Vault;
  /** Config and dynamic tenants and providers (cached in process, invalidated across instances). */
  registry: TenantRegistry;
  /** The private_key_jwt signing keys of the providers. */
  clientKeys: ClientKeys;
  providers: ProviderClients;
  /** The checks a tenant's provider must pass before it is stored (admin API). */
  providerChecks: ProviderChecker;
  transactions: KeyValueStore;
  sessions: SessionService;
  refresher: TokenRefresher;
  backchannel: BackchannelLogout;
  cookies: CookieNames;
  /** Connection pools for API upstreams (not the guarded one: upstreams come from our own config). */
  upstreams: UpstreamPools;
  /** Graceful shutdown state: whether draining, and the open event streams to end then. */
  drain: ConnectionDrain;
  /** Keys of the Gatehouse-signed downstream tokens (published at `/.well-known/jwks.json`). */
  signingKeys: SigningKeyRing;
  /** Mints (and reuses) the tokens of `gatehouse`-mode routes. */
  downstreamTokens: DownstreamTokenMinter;
  /** Prometheus metrics of this instance (a no-op when `metrics.port` is 0). */
  metrics: Metrics;
  /** Request limits (login, callbacks, admin API, provider tests, back-channel logouts). */
  rateLimits: RateLimits;
  /** The audit trail: the `audit` log lines and each tenant's stored trail. */
  audit: AuditLog;
  /** The session lifecycle controls for end-to-end tests; only with `config.testControls`. */
  testControls?: SessionTestControls;
}
