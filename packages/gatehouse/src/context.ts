import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { GatehouseConfig } from './config/schema.ts';
import type { CookieNames } from './http/cookies.ts';
import type { ProviderClients } from './oidc/provider-clients.ts';
import type { TokenRefresher } from './oidc/refresh.ts';
import type { KeyValueStore } from './session/kv.ts';
import type { SessionService } from './session/service.ts';
import type { Clock } from './session/stores.ts';
import type { Vault } from './session/vault.ts';

/** Everything a request handler needs, built once per Gatehouse instance by `createGatehouse`. */
export interface GatehouseContext {
  config: GatehouseConfig;
  publicOrigin: string;
  logger: Logger;
  clock: Clock;
  vault: Vault;
  providers: ProviderClients;
  transactions: KeyValueStore;
  sessions: SessionService;
  refresher: TokenRefresher;
  cookies: CookieNames;
  /** Connection pool for API upstreams (not the guarded one: upstreams come from our own config). */
  upstreams: Dispatcher;
  /** How often (at most) a session's idle deadline is moved forward: one write per interval. */
  slideIntervalMs: number;
}
