import type { ProviderConfig, TenantConfig } from '../config/schema.ts';
import {
  DEFAULT_ADMIN_RULE,
  type Provider,
  type StoredProvider,
  type StoredTenant,
  type Tenant,
} from './model.ts';
import type { RegistrySnapshot } from './registry-store.ts';
import { providerSettingsOf } from './provider-schema.ts';

/**
 * The registry's in-process view: the config file's tenants and providers merged with the
 * stored ones, indexed for the reads of every request (by id, email domain, host).
 */

export type SecretSource = { plain: string } | { sealed: string };

export interface ProviderEntry {
  provider: Provider;
  secret: SecretSource | undefined;
}

export interface TenantEntry {
  tenant: Tenant;
  providers: Map<string, ProviderEntry>;
}

export interface RegistryView {
  tenants: Map<string, TenantEntry>;
  byDomain: Map<string, string>;
  byHost: Map<string, string>;
}

export function dynamicTenant(stored: StoredTenant): Tenant {
  return {
    id: stored.id,
    name: stored.name,
    emailDomains: stored.emailDomains,
    hosts: stored.hosts,
    adminRule: stored.adminRule,
    ...(stored.session ? { session: stored.session } : {}),
    source: 'dynamic',
  };
}

export function dynamicProvider(stored: StoredProvider): Provider {
  return {
    ...providerSettingsOf(stored),
    id: stored.id,
    tenant: stored.tenant,
    hasClientSecret: stored.sealedClientSecret !== undefined,
    source: 'dynamic',
    revision: stored.revision,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
  };
}

export function configTenantEntry(tenant: TenantConfig): TenantEntry {
  return {
    tenant: {
      id: tenant.id,
      name: tenant.name,
      emailDomains: tenant.emailDomains,
      hosts: tenant.hosts ?? [],
      adminRule: tenant.adminRule ?? DEFAULT_ADMIN_RULE,
      ...(tenant.session ? { session: tenant.session } : {}),
      source: 'config',
    },
    providers: new Map(tenant.providers.map((p) => [p.id, configProviderEntry(tenant.id, p)])),
  };
}

export function configProviderEntry(tenant: string, provider: ProviderConfig): ProviderEntry {
  return {
    provider: {
      ...providerSettingsOf({ ...provider, displayName: provider.displayName ?? provider.id }),
      id: provider.id,
      tenant,
      hasClientSecret: provider.clientSecret !== undefined,
      source: 'config',
      revision: 0,
      createdAt: 0,
      updatedAt: 0,
    },
    secret: provider.clientSecret === undefined ? undefined : { plain: provider.clientSecret },
  };
}

/** Config entries first (they win every clash), then dynamic ones in a stable order. */
export function buildView(
  configured: ReadonlyMap<string, TenantEntry>,
  snapshot: RegistrySnapshot,
): RegistryView {
  const tenants = new Map<string, TenantEntry>();
  for (const [id, entry] of configured) {
    tenants.set(id, { tenant: entry.tenant, providers: new Map(entry.providers) });
  }
  for (const stored of [...snapshot.tenants].sort((a, b) => a.id.localeCompare(b.id))) {
    if (!tenants.has(stored.id)) {
      tenants.set(stored.id, { tenant: dynamicTenant(stored), providers: new Map() });
    }
  }
  const providers = [...snapshot.providers].sort(
    (a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id),
  );
  for (const stored of providers) {
    const entry = tenants.get(stored.tenant);
    // Orphans (tenant gone) and clashes with a config provider are ignored.
    if (!entry || entry.providers.has(stored.id)) continue;
    entry.providers.set(stored.id, {
      provider: dynamicProvider(stored),
      secret:
        stored.sealedClientSecret === undefined ? undefined : { sealed: stored.sealedClientSecret },
    });
  }
  const byDomain = new Map<string, string>();
  const byHost = new Map<string, string>();
  for (const { tenant } of tenants.values()) {
    for (const domain of tenant.emailDomains)
      if (!byDomain.has(domain)) byDomain.set(domain, tenant.id);
    for (const host of tenant.hosts) if (!byHost.has(host)) byHost.set(host, tenant.id);
  }
  return { tenants, byDomain, byHost };
}
