import type {
  AdminIdentity,
  ProviderCheckName,
  ProviderTestResult,
  ProviderView,
  TenantProvider,
  TokenEndpointAuthMethod,
} from './admin-contract.ts';
import { asRecord, invalidResponse, readJson } from './parse.ts';
import type { GatehouseAdmin } from './types.ts';

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
 * `{ provider, redirectUri, backchannelLogoutUri }` (the server's `ProviderView`), copying only the
 * known fields: whatever else a server might send (a secret, say) never reaches the UI.
 */
function toProviderView(value: unknown, tenant: string): ProviderView | undefined {
  const outer = asRecord(value);
  const inner = asRecord(outer?.['provider']);
  if (!outer || !inner) return undefined;
  const provider = toProvider(inner, tenant);
  const { redirectUri, backchannelLogoutUri } = outer;
  const uris = toProviderUris(outer['uris']);
  if (
    !provider ||
    !uris ||
    typeof redirectUri !== 'string' ||
    typeof backchannelLogoutUri !== 'string'
  ) {
    return undefined;
  }
  return { provider, uris, redirectUri, backchannelLogoutUri };
}

function toProviderUris(value: unknown): ProviderView['uris'] | undefined {
  const record = asRecord(value);
  const { redirectUri, postLogoutRedirectUri, backchannelLogoutUri, jwksUri } = record ?? {};
  if (
    typeof redirectUri !== 'string' ||
    typeof postLogoutRedirectUri !== 'string' ||
    typeof backchannelLogoutUri !== 'string' ||
    typeof jwksUri !== 'string'
  ) {
    return undefined;
  }
  return { redirectUri, postLogoutRedirectUri, backchannelLogoutUri, jwksUri };
}

function toProvider(record: Record<string, unknown>, tenant: string): TenantProvider | undefined {
  const { id, displayName, issuer, clientId, tokenEndpointAuthMethod } = record;
  if (
    typeof id !== 'string' ||
    typeof displayName !== 'string' ||
    typeof issuer !== 'string' ||
    typeof clientId !== 'string' ||
    typeof tokenEndpointAuthMethod !== 'string'
  ) {
    return undefined;
  }
  return {
    id,
    tenant: typeof record['tenant'] === 'string' ? record['tenant'] : tenant,
    displayName,
    issuer,
    clientId,
    hasClientSecret: record['hasClientSecret'] === true,
    // A newer server may know more methods: shown as sent, never guessed.
    tokenEndpointAuthMethod: tokenEndpointAuthMethod as TokenEndpointAuthMethod,
    ...(typeof record['idTokenSignedResponseAlg'] === 'string'
      ? {
          idTokenSignedResponseAlg: record[
            'idTokenSignedResponseAlg'
          ] as TenantProvider['idTokenSignedResponseAlg'],
        }
      : {}),
    // Like the method: a value a newer server knows is shown as sent; absent ones are the defaults.
    pkce: textOr(record['pkce'], 'required'),
    par: textOr(record['par'], 'auto'),
    dpop: record['dpop'] === true,
    logout: textOr(record['logout'], 'end-session'),
    scopes: stringArray(record['scopes']),
    authorizationParams: stringRecord(record['authorizationParams']),
    endSessionParams: stringRecord(record['endSessionParams']),
    profile: textOr(record['profile'], 'generic'),
    enabled: record['enabled'] !== false,
    source: record['source'] === 'config' ? 'config' : 'dynamic',
    createdAt: stringOrNull(record['createdAt']),
    updatedAt: stringOrNull(record['updatedAt']),
  };
}

/** The server's `ProviderTestResult`: every check passed, plus what discovery found. */
function parseTestResult(body: unknown, status: number): ProviderTestResult {
  const record = asRecord(body);
  const { issuer, authorizationEndpoint, tokenEndpoint } = record ?? {};
  if (
    record?.['ok'] !== true ||
    typeof issuer !== 'string' ||
    typeof authorizationEndpoint !== 'string' ||
    typeof tokenEndpoint !== 'string'
  ) {
    throw invalidResponse(status, 'POST …/test answered 2xx without ok: true and the endpoints');
  }
  return {
    ok: true,
    checks: stringArray(record['checks']) as ProviderCheckName[],
    issuer,
    authorizationEndpoint,
    tokenEndpoint,
    endSessionEndpoint: stringOrNull(record['endSessionEndpoint']),
    backchannelLogoutSupported: record['backchannelLogoutSupported'] === true,
  };
}

function textOr<T extends string>(value: unknown, fallback: T): T {
  return typeof value === 'string' ? (value as T) : fallback;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
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
