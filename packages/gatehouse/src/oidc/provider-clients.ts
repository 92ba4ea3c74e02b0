import * as client from 'openid-client';
import { GatehouseError, idpUnavailable } from '../errors.ts';
import type { GatehouseConfig, ProviderConfig, TenantConfig } from '../config/schema.ts';

export interface ResolvedProvider {
  tenant: TenantConfig;
  provider: ProviderConfig;
}

export interface ProviderClientsOptions {
  config: GatehouseConfig;
  /** The guarded fetch every provider request goes through. */
  fetch: client.CustomFetch;
}

/** IdP requests (discovery, token, JWKS, revocation) give up after this many seconds. */
const IDP_TIMEOUT_SECONDS = 10;

/**
 * One openid-client `Configuration` per provider, discovered on first use and cached; concurrent
 * first uses share one discovery, and a failed discovery is not cached.
 */
export class ProviderClients {
  readonly #config: GatehouseConfig;
  readonly #fetch: client.CustomFetch;
  readonly #clients = new Map<string, Promise<client.Configuration>>();

  constructor(options: ProviderClientsOptions) {
    this.#config = options.config;
    this.#fetch = options.fetch;
  }

  /** The enabled provider of a tenant, or undefined. */
  resolve(tenantId: string, providerId: string): ResolvedProvider | undefined {
    const tenant = this.#config.tenants.find((t) => t.id === tenantId);
    const provider = tenant?.providers.find((p) => p.id === providerId && p.enabled);
    return tenant && provider ? { tenant, provider } : undefined;
  }

  redirectUri(tenantId: string, providerId: string): string {
    return `${this.#config.publicUrl.replace(/\/$/, '')}/bff/callback/${tenantId}/${providerId}`;
  }

  async client(tenantId: string, providerId: string): Promise<client.Configuration> {
    const resolved = this.resolve(tenantId, providerId);
    if (!resolved)
      throw new GatehouseError(404, 'unknown_provider', 'Unknown or disabled identity provider.');
    const key = `${tenantId}/${providerId}`;
    let pending = this.#clients.get(key);
    if (!pending) {
      pending = this.#discover(resolved.provider);
      this.#clients.set(key, pending);
      pending.catch(() => this.#clients.delete(key));
    }
    return pending;
  }

  async #discover(provider: ProviderConfig): Promise<client.Configuration> {
    const execute: Array<(config: client.Configuration) => void> = [
      client.enableNonRepudiationChecks,
    ];
    if (this.#isDevIdp(provider.issuer)) execute.push(client.allowInsecureRequests);
    try {
      const configuration = await client.discovery(
        new URL(provider.issuer),
        provider.clientId,
        { id_token_signed_response_alg: 'RS256' },
        clientAuthentication(provider),
        { [client.customFetch]: this.#fetch, execute, timeout: IDP_TIMEOUT_SECONDS },
      );
      configuration.timeout = IDP_TIMEOUT_SECONDS;
      configuration[client.customFetch] = this.#fetch;
      return configuration;
    } catch (error) {
      throw idpUnavailable(error);
    }
  }

  /** http issuers are allowed only for the configured dev IdP origins in development mode. */
  #isDevIdp(issuer: string): boolean {
    const url = new URL(issuer);
    return (
      this.#config.mode === 'development' &&
      url.protocol === 'http:' &&
      this.#config.devIdpOrigins.some((origin) => new URL(origin).origin === url.origin)
    );
  }
}

function clientAuthentication(provider: ProviderConfig): client.ClientAuth {
  switch (provider.tokenEndpointAuthMethod) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(provider.clientSecret);
    case 'client_secret_post':
      return client.ClientSecretPost(provider.clientSecret);
    case 'none':
      return client.None();
  }
}
