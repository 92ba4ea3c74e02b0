import { asRecord, invalidResponse, readJson } from './parse.ts';
import type {
  AdminIdentity,
  GatehouseAdmin,
  ProviderCheck,
  ProviderTestResult,
  ProviderView,
  TenantProvider,
} from './types.ts';

/** Sends one admin API request (`path` below `/admin/api`); non-2xx answers throw. */
export type AdminCall = (path: string, init: RequestInit) => Promise<Response>;

/** The admin API functions over `call`, which carries the CSRF header and the 401 handling. */
export function createAdminApi(call: AdminCall): GatehouseAdmin {
  const providersPath = (tenant: string) => `/tenants/${encodeURIComponent(tenant)}/providers`;
  const providerPath = (tenant: string, id: string) =>
    `${providersPath(tenant)}/${encodeURIComponent(id)}`;

  async function sendJson(path: string, method: string, body: unknown): Promise<Response> {
    return call(path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  return {
    async me() {
      const response = await call('/me', { method: 'GET' });
      return parseAdminIdentity(await readJson(response), response.status);
    },
    async listProviders(tenant) {
      const response = await call(providersPath(tenant), { method: 'GET' });
      return parseProviderList(await readJson(response), response.status, tenant);
    },
    async createProvider(tenant, input) {
      const response = await sendJson(providersPath(tenant), 'POST', input);
      return parseProviderView(await readJson(response), response.status, tenant);
    },
    async updateProvider(tenant, id, patch) {
      const response = await sendJson(providerPath(tenant, id), 'PATCH', patch);
      return parseProviderView(await readJson(response), response.status, tenant);
    },
    async deleteProvider(tenant, id) {
      await call(providerPath(tenant, id), { method: 'DELETE' });
    },
    async testProvider(tenant, id) {
      const response = await call(`${providerPath(tenant, id)}/test`, { method: 'POST' });
      return parseTestResult(await readJson(response), response.status);
    },
  };
}

function parseAdminIdentity(body: unknown, status: number): AdminIdentity {
  const record = asRecord(body);
  const role = record?.['role'];
  const tenant = record?.['tenant'];
  if (role !== 'operator' && role !== 'tenant-admin') {
    throw invalidResponse(status, 'GET /admin/api/me answered without a known role');
  }
  return typeof tenant === 'string' ? { role, tenant } : { role };
}

function parseProviderList(body: unknown, status: number, tenant: string): ProviderView[] {
  const list = asRecord(body)?.['providers'];
  if (!Array.isArray(list)) {
    throw invalidResponse(status, 'GET …/providers answered without a providers array');
  }
  const views: ProviderView[] = [];
  for (const item of list as unknown[]) {
    const view = toProviderView(item, tenant);
    if (view) views.push(view);
  }
  return views;
}

function parseProviderView(body: unknown, status: number, tenant: string): ProviderView {
  const view = toProviderView(body, tenant);
  if (!view) throw invalidResponse(status, 'the admin API answered without a provider');
  return view;
}

/**
 * Accepts `{ provider, redirectUri, backchannelLogoutUri }` or a bare provider, and copies only
 * the known fields: whatever else a server might send (a secret, say) never reaches the UI.
 */
function toProviderView(value: unknown, tenant: string): ProviderView | undefined {
  const outer = asRecord(value);
  if (!outer) return undefined;
  const provider = toProvider(asRecord(outer['provider']) ?? outer, tenant);
  if (!provider) return undefined;
  const view: ProviderView = { provider };
  if (typeof outer['redirectUri'] === 'string') view.redirectUri = outer['redirectUri'];
  if (typeof outer['backchannelLogoutUri'] === 'string') {
    view.backchannelLogoutUri = outer['backchannelLogoutUri'];
  }
  return view;
}

function toProvider(record: Record<string, unknown>, tenant: string): TenantProvider | undefined {
  const { id, displayName, issuer, clientId } = record;
  if (
    typeof id !== 'string' ||
    typeof displayName !== 'string' ||
    typeof issuer !== 'string' ||
    typeof clientId !== 'string'
  ) {
    return undefined;
  }
  const method = record['tokenEndpointAuthMethod'];
  return {
    id,
    tenant: typeof record['tenant'] === 'string' ? record['tenant'] : tenant,
    displayName,
    issuer,
    clientId,
    hasClientSecret: record['hasClientSecret'] === true,
    tokenEndpointAuthMethod: typeof method === 'string' ? method : 'client_secret_basic',
    scopes: stringArray(record['scopes']),
    authorizationParams: stringRecord(record['authorizationParams']),
    enabled: record['enabled'] !== false,
    source: record['source'] === 'config' ? 'config' : 'dynamic',
  };
}

function parseTestResult(body: unknown, status: number): ProviderTestResult {
  const record = asRecord(body);
  if (record?.['ok'] !== true) {
    throw invalidResponse(status, 'POST …/test answered 2xx without ok: true');
  }
  const checks = Array.isArray(record['checks']) ? (record['checks'] as unknown[]) : [];
  return { ok: true, checks: checks.flatMap(toCheck) };
}

/** Checks are descriptive only: take a name and an outcome where the server gave them. */
function toCheck(value: unknown): ProviderCheck[] {
  if (typeof value === 'string') return [{ name: value, ok: true }];
  const record = asRecord(value);
  const name = [record?.['name'], record?.['check'], record?.['id']].find(
    (candidate): candidate is string => typeof candidate === 'string',
  );
  if (!record || name === undefined) return [];
  const detail = record['detail'] ?? record['message'];
  return [
    {
      name,
      ok: record['ok'] !== false && record['passed'] !== false,
      ...(typeof detail === 'string' ? { detail } : {}),
    },
  ];
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value)
    ? (value as unknown[]).filter((item): item is string => typeof item === 'string')
    : [];
}

function stringRecord(value: unknown): Record<string, string> {
  const record = asRecord(value);
  // fromEntries defines own properties: a `__proto__` key stays data, never a prototype.
  return Object.fromEntries(
    Object.entries(record ?? {}).filter((entry): entry is [string, string] => {
      return typeof entry[1] === 'string';
    }),
  );
}
