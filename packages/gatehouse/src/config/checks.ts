import type { ParsedConfig } from './schema.ts';
import { SECRET_AUTH_METHODS } from '../tenants/provider-schema.ts';
import { isPlainHttpDevIdp } from './dev-idp.ts';
import { entryLabel } from './paths.ts';
import { checkGatehouseRoutes, checkSigningKeys } from '../tokens/signing-key-config.ts';

export type ConfigCheck = (config: ParsedConfig, problems: string[]) => void;

const isLoopbackHost = (hostname: string) =>
  hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);

function checkPublicUrl(config: ParsedConfig, problems: string[]): void {
  const url = new URL(config.publicUrl);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    problems.push(
      'publicUrl: must be an origin only (scheme, host, port), e.g. https://app.example.com',
    );
  }
}

function checkDevIdpOrigins(config: ParsedConfig, problems: string[]): void {
  for (const origin of config.devIdpOrigins) {
    const url = new URL(origin);
    if (!isLoopbackHost(url.hostname) || url.origin !== origin.replace(/\/$/, '')) {
      problems.push(
        `devIdpOrigins: "${origin}" must be a bare loopback origin (http://localhost:4000)`,
      );
    }
  }
}

function checkTenants(config: ParsedConfig, problems: string[]): void {
  const tenantIds = new Set<string>();
  const domains = new Map<string, string>();
  const hosts = new Map<string, string>();
  for (const [index, tenant] of config.tenants.entries()) {
    const at = `tenants.${entryLabel('tenants', tenant.id, index)}`;
    if (tenantIds.has(tenant.id)) problems.push(`tenants: duplicate tenant id "${tenant.id}"`);
    tenantIds.add(tenant.id);
    const idle = tenant.session?.idleTimeoutSeconds ?? config.session?.idleTimeoutSeconds ?? 1800;
    const absolute =
      tenant.session?.absoluteTimeoutSeconds ?? config.session?.absoluteTimeoutSeconds ?? 43_200;
    if (absolute < idle) {
      problems.push(
        `${at}.session: the absolute timeout must not be shorter than the idle timeout`,
      );
    }
    for (const domain of tenant.emailDomains) {
      const owner = domains.get(domain);
      if (owner) {
        problems.push(`${at}.emailDomains: "${domain}" also belongs to "${owner}"`);
      }
      domains.set(domain, tenant.id);
    }
    for (const host of tenant.hosts ?? []) {
      const owner = hosts.get(host);
      if (owner) problems.push(`${at}.hosts: "${host}" also belongs to "${owner}"`);
      hosts.set(host, tenant.id);
    }
    const providerIds = new Set<string>();
    for (const [position, provider] of tenant.providers.entries()) {
      const where = `${at}.providers.${entryLabel('providers', provider.id, position)}`;
      if (providerIds.has(provider.id)) problems.push(`${where}: duplicate provider id`);
      providerIds.add(provider.id);
      checkProviderIssuer(config, provider.issuer, where, problems);
      const needsSecret = SECRET_AUTH_METHODS.has(provider.tokenEndpointAuthMethod);
      if (needsSecret && !provider.clientSecret) {
        problems.push(`${where}.clientSecret: required for ${provider.tokenEndpointAuthMethod}`);
      }
      if (!needsSecret && provider.clientSecret) {
        problems.push(
          `${where}.clientSecret: must be absent for ${provider.tokenEndpointAuthMethod}`,
        );
      }
    }
  }
  if (config.defaultTenant && !tenantIds.has(config.defaultTenant)) {
    problems.push(`defaultTenant: unknown tenant "${config.defaultTenant}"`);
  }
}

function checkProviderIssuer(
  config: ParsedConfig,
  issuer: string,
  where: string,
  problems: string[],
): void {
  const url = new URL(issuer);
  if (url.protocol === 'https:') return;
  // Loopback again here, so that a non-loopback dev origin also flags every issuer on it.
  if (!isPlainHttpDevIdp(url, config) || !isLoopbackHost(url.hostname)) {
    problems.push(
      `${where}.issuer: must be https (http only for a configured dev IdP origin in development mode)`,
    );
  }
}

function checkRoutes(config: ParsedConfig, problems: string[]): void {
  const prefixes = new Set<string>();
  const tenantIds = new Set(config.tenants.map((t) => t.id));
  for (const [index, route] of config.routes.entries()) {
    const at = `routes.${entryLabel('routes', route.prefix, index)}`;
    if (prefixes.has(route.prefix)) problems.push(`routes: duplicate prefix "${route.prefix}"`);
    prefixes.add(route.prefix);
    const upstream = new URL(route.upstream);
    if (upstream.search || upstream.hash || upstream.username || upstream.password) {
      problems.push(`${at}.upstream: must not carry a query, fragment or credentials`);
    }
    for (const tenant of route.tenants ?? []) {
      if (!tenantIds.has(tenant)) {
        problems.push(`${at}.tenants: unknown tenant "${tenant}"`);
      }
    }
    if (route.tenants && (route.tokenMode === 'none' || route.tokenMode === 'optional')) {
      // Anonymous calls carry no tenant: such a route could not keep other tenants out.
      problems.push(`${at}.tenants: only for tokenMode "user" or "gatehouse"`);
    }
    if (route.resource && route.tokenMode !== 'user' && route.tokenMode !== 'optional') {
      problems.push(`${at}.resource: only for tokenMode "user" or "optional"`);
    }
  }
}

/**
 * `/bff/authz` answers with a bearer token, so only the gateway may reach it: a `trust proxy`
 * of `true` or a hop count trusts whatever peer connects, not only the gateway.
 */
export function gatewayWarnings(config: ParsedConfig): string[] {
  const enabled = config.gateway.enabled ?? config.mode === 'development';
  const trustsAnyPeer =
    config.trustProxy === true || (typeof config.trustProxy === 'number' && config.trustProxy > 0);
  if (!enabled || !trustsAnyPeer) return [];
  return [
    "gateway mode is on and TRUST_PROXY trusts any peer (true or a hop count): every client that reaches Gatehouse directly can ask /bff/authz for a token; name the gateway's addresses instead (TRUST_PROXY=10.0.0.5 or a subnet)",
  ];
}

/** The gateway's default route must be a configured route. */
function checkGateway(config: ParsedConfig, problems: string[]): void {
  const route = config.gateway?.route;
  if (route === undefined) return;
  if (!config.routes.some((r) => r.prefix === `/api/${route}`)) {
    problems.push(`gateway.route: no route has the prefix "/api/${route}"`);
  }
}

export const configChecks: ConfigCheck[] = [
  checkPublicUrl,
  checkDevIdpOrigins,
  checkTenants,
  checkRoutes,
  checkGateway,
  checkGatehouseRoutes,
  checkSigningKeys,
  checkSessionAndKeys,
  checkWorkers,
];

/** Workers share nothing but Redis: sessions and secrets must be the same in every one. */
function checkWorkers(config: ParsedConfig, problems: string[]): void {
  if (config.workers === 1) return;
  if (!config.redis) {
    problems.push(
      'GATEHOUSE_WORKERS: more than one worker needs Redis (REDIS_URL, …) to share sessions',
    );
  }
  if (!config.session) {
    problems.push(
      'GATEHOUSE_WORKERS: more than one worker needs SESSION_SECRET (the same in every worker)',
    );
  }
  if (!config.encryptionKeys) {
    problems.push(
      'GATEHOUSE_WORKERS: more than one worker needs GATEHOUSE_ENCRYPTION_KEYS (the same in every worker)',
    );
  }
  // Each worker would sign with a random key of its own, and publish only that one: a token
  // signed by one worker would fail against the key set another one serves.
  if (!config.signingKeys && config.routes.some((route) => route.tokenMode === 'gatehouse')) {
    problems.push(
      'GATEHOUSE_WORKERS: more than one worker needs GATEHOUSE_SIGNING_KEYS (the same in every worker) when a route uses tokenMode "gatehouse"',
    );
  }
}

function checkSessionAndKeys(config: ParsedConfig, problems: string[]): void {
  const { session, encryptionKeys } = config;
  if (session && session.absoluteTimeoutSeconds < session.idleTimeoutSeconds) {
    problems.push('session.absoluteTimeoutSeconds: must not be shorter than idleTimeoutSeconds');
  }
  const kids = new Set(encryptionKeys?.map((k) => k.kid));
  if (encryptionKeys && kids.size !== encryptionKeys.length) {
    problems.push('encryptionKeys: duplicate kid');
  }
}
