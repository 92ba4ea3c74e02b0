import * as client from 'openid-client';
import { problem } from '../errors.ts';
import { isPlainHttpDevIdp } from '../config/dev-idp.ts';
import type { GatehouseConfig } from '../config/schema.ts';
import type { Provider, Tenant } from '../tenants/model.ts';
import type { TenantRegistry } from '../tenants/registry.ts';
import { providerUris } from '../tenants/provider-uris.ts';
import { chooseIdTokenAlgorithm, idTokenAlgorithmsOf } from '../tenants/provider-checks.ts';
import { performance } from 'node:perf_hooks';
import { reportingFetch, type OutageLog } from '../observability/outages.ts';
import type { IdpEndpoint, Metrics } from '../observability/metrics.ts';
import { chooseClientKeyAlgorithm, type ClientKeys } from '../tenants/client-keys.ts';

export interface ResolvedProvider {
  tenant: Tenant;
  provider: Provider;
}

export interface ProviderClientsOptions {
  config: GatehouseConfig;
  /**
   * The guarded fetch every provider request goes through. It bounds each request's time
   * itself (the guarded fetch's `timeoutMs`, body included): after discovery, openid-client
   * arms no timer of its own per request.
   */
  fetch: client.CustomFetch;
  /** Config and dynamic tenants/providers. */
  registry: TenantRegistry;
  /** Hears whether each provider's issuer answers (one log line per outage). */
  outages?: OutageLog;
  /** Counts every request to each provider by endpoint and outcome. */
  metrics?: Metrics;
  /** The private_key_jwt signing keys. */
  clientKeys: ClientKeys;
}

interface CachedClient {
  /** Which version of the provider it was built from. */
  fingerprint: string;
  configuration: Promise<client.Configuration>;
}

/** Discovery gives up after this many seconds (the guarded fetch bounds every request too). */
const IDP_TIMEOUT_SECONDS = 10;

/**
 * One openid-client `Configuration` per provider, discovered on first use and cached; concurrent
 * first uses share one discovery, and a failed discovery is not cached. A provider changed in
 * the registry gets a new one; a deleted or disabled one gets none.
 */
export class ProviderClients {
  readonly #config: GatehouseConfig;
  readonly #fetch: client.CustomFetch;
  readonly #registry: TenantRegistry;
  readonly #outages: OutageLog | undefined;
  readonly #metrics: Metrics | undefined;
  readonly #clientKeys: ClientKeys;
  readonly #clients = new Map<string, CachedClient>();

  constructor(options: ProviderClientsOptions) {
    this.#config = options.config;
    this.#fetch = options.fetch;
    this.#registry = options.registry;
    this.#outages = options.outages;
    this.#metrics = options.metrics?.enabled ? options.metrics : undefined;
    this.#clientKeys = options.clientKeys;
  }

  /** The enabled provider of a tenant, or undefined. */
  async resolve(tenantId: string, providerId: string): Promise<ResolvedProvider | undefined> {
    const tenant = await this.#registry.tenant(tenantId);
    const provider = tenant && (await this.#registry.provider(tenantId, providerId));
    return tenant && provider?.enabled ? { tenant, provider } : undefined;
  }

  redirectUri(tenantId: string, providerId: string): string {
    return providerUris(this.#config.publicUrl, tenantId, providerId).redirectUri;
  }

  async client(tenantId: string, providerId: string): Promise<client.Configuration> {
    const key = `${tenantId}/${providerId}`;
    const resolved = await this.resolve(tenantId, providerId);
    if (!resolved) {
      this.#clients.delete(key);
      throw problem('unknown_provider');
    }
    const { provider } = resolved;
    const fingerprint = `${provider.source}:${provider.createdAt}:${provider.revision}`;
    const cached = this.#clients.get(key);
    if (cached?.fingerprint === fingerprint) return cached.configuration;
    const configuration = this.#registry
      .clientSecret(tenantId, providerId)
      .then((secret) => this.#discover(provider, secret));
    const entry = { fingerprint, configuration };
    this.#clients.set(key, entry);
    configuration.catch(() => {
      if (this.#clients.get(key) === entry) this.#clients.delete(key);
    });
    return configuration;
  }

  async #discover(provider: Provider, secret: string | undefined): Promise<client.Configuration> {
    const execute: Array<(config: client.Configuration) => void> = [
      client.enableNonRepudiationChecks,
    ];
    if (this.#isDevIdp(provider.issuer)) execute.push(client.allowInsecureRequests);
    const reporting = this.#outages
      ? reportingFetch(this.#fetch, `IdP ${provider.issuer}`, this.#outages)
      : this.#fetch;
    let metadata: client.ServerMetadata | undefined;
    const fetch = this.#metrics
      ? meteredFetch(reporting, this.#metrics, provider, () => metadata)
      : reporting;
    try {
      // The configured ID token algorithm, else one chosen from discovery (RS256 when listed,
      // else the first asymmetric one): never whatever a token's header says.
      const configured = provider.idTokenSignedResponseAlg;
      let configuration = await client.discovery(
        new URL(provider.issuer),
        provider.clientId,
        configured ? { id_token_signed_response_alg: configured } : undefined,
        this.#clientAuthentication(provider, secret),
        { [client.customFetch]: fetch, execute, timeout: IDP_TIMEOUT_SECONDS },
      );
      if (!configured) {
        const server = configuration.serverMetadata();
        const chosen = chooseIdTokenAlgorithm(idTokenAlgorithmsOf({ ...server }));
        if (!chosen) throw new Error('the provider lists no asymmetric ID token algorithm');
        configuration = new client.Configuration(
          server,
          provider.clientId,
          { id_token_signed_response_alg: chosen },
          this.#clientAuthentication(provider, secret),
        );
        for (const extension of execute) extension(configuration);
      }
      // The guarded fetch times every request out (sooner, body included); openid-client's own
      // timeout would add an `AbortSignal.timeout` per request, which fires (a DOMException and
      // its abort listeners) seconds after the request is long done.
      configuration.timeout = 0;
      metadata = configuration.serverMetadata();
      configuration[client.customFetch] = fetch;
      return configuration;
    } catch (error) {
      throw problem('idp_unavailable', { cause: error });
    }
  }

  /**
   * The provider's public signing keys (private_key_jwt), made on first use: a JWKS fetched
   * before the first sign-in (an OP checking the URL at registration) gets the key that will
   * sign. Making it needs the OP's discovery (to choose ES256 or RS256).
   */
  async clientJwks(tenantId: string, providerId: string): Promise<{ keys: unknown[] }> {
    const published = await this.#clientKeys.jwks(tenantId, providerId);
    if (published?.keys.length) return published;
    const metadata = (await this.client(tenantId, providerId)).serverMetadata();
    await this.#clientKeys.ensure(tenantId, providerId, () =>
      chooseClientKeyAlgorithm(metadata.token_endpoint_auth_signing_alg_values_supported),
    );
    return (await this.#clientKeys.jwks(tenantId, providerId)) ?? { keys: [] };
  }

  #clientAuthentication(provider: Provider, secret: string | undefined): client.ClientAuth {
    switch (provider.tokenEndpointAuthMethod) {
      case 'client_secret_basic':
        return client.ClientSecretBasic(secret);
      case 'client_secret_post':
        return client.ClientSecretPost(secret);
      case 'private_key_jwt': {
        // The key is looked up at every request (cached in process), so a rotation takes
        // effect without rebuilding the client; openid-client signs the assertion.
        // openid-client types a ClientAuth as returning void but awaits it (its own
        // PrivateKeyJwt is async, as oauth4webapi's `void | Promise<void>` type says).
        const keys = this.#clientKeys;
        const privateKeyJwt = async (
          as: client.ServerMetadata,
          metadata: client.ClientMetadata,
          body: URLSearchParams,
          headers: Headers,
        ): Promise<void> => {
          const key = await keys.signingKey(provider.tenant, provider.id, () =>
            chooseClientKeyAlgorithm(as.token_endpoint_auth_signing_alg_values_supported),
          );
          const sign = client.PrivateKeyJwt(key) as (
            ...args: Parameters<client.ClientAuth>
          ) => Promise<void>;
          await sign(as, metadata, body, headers);
        };
        // eslint-disable-next-line @typescript-eslint/no-misused-promises -- awaited, see above
        return privateKeyJwt;
      }
    }
  }

  /** http issuers are allowed only for the configured dev IdP origins in development mode. */
  #isDevIdp(issuer: string): boolean {
    return isPlainHttpDevIdp(new URL(issuer), this.#config);
  }
}

/** Which endpoint of the provider a URL is (from its discovery document, once known). */
function endpointOf(url: string, metadata: client.ServerMetadata | undefined): IdpEndpoint {
  const bare = url.split('?')[0] ?? url;
  if (!metadata) return bare.endsWith('/.well-known/openid-configuration') ? 'discovery' : 'other';
  if (bare === metadata.token_endpoint) return 'token';
  if (bare === metadata.jwks_uri) return 'jwks';
  if (bare === metadata.revocation_endpoint) return 'revocation';
  if (bare === metadata.userinfo_endpoint) return 'userinfo';
  if (bare.endsWith('/.well-known/openid-configuration')) return 'discovery';
  return 'other';
}

/** A provider's fetch that counts each request by endpoint and outcome, and times it. */
export function meteredFetch(
  fetch: client.CustomFetch,
  metrics: Metrics,
  provider: Pick<Provider, 'tenant' | 'id'>,
  metadata: () => client.ServerMetadata | undefined,
): client.CustomFetch {
  return async (url, options) => {
    const endpoint = endpointOf(url, metadata());
    const startedAt = performance.now();
    const seconds = () => (performance.now() - startedAt) / 1000;
    let response: Response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      metrics.idpCall(provider.tenant, provider.id, endpoint, 'unavailable', seconds());
      throw error;
    }
    const outcome =
      response.status >= 500 ? 'unavailable' : response.status >= 400 ? 'error' : 'ok';
    metrics.idpCall(provider.tenant, provider.id, endpoint, outcome, seconds());
    return response;
  };
}
