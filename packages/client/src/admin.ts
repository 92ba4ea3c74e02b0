import type {
  AdminIdentity,
  ProviderCheckName,
  ProviderProfile,
  ProviderTestResult,
  ProviderView,
  TenantProvider,
  TokenEndpointAuthMethod,
} from './admin-contract.ts';
import { asRecord, invalidResponse, readJson } from './parse.ts';
import type { AdminCall, GatehouseAdmin, GatehouseAdminConsole } from './types.ts';

/** The admin API functions over `call`, which carries the CSRF header and the 401 handling. */
export function createAdminApi(call: AdminCall): Omit<GatehouseAdmin, keyof GatehouseAdminConsole> {
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
    async checkProvider(tenant, input) {
      const path = `/tenants/${encodeURIComponent(tenant)}/provider-checks`;
      const response = await sendJson(path, 'POST', input);
      return parseTestResult(await readJson(response), response.status);
    },
    async providerUris(tenant, id) {
      const path = `/tenants/${encodeURIComponent(tenant)}/provider-uris/${encodeURIComponent(id)}`;
      const response = await call(path, { method: 'GET' });
      const uris = toProviderUris(await readJson(response));
      if (!uris)
        throw invalidResponse(response.status, 'GET …/provider-uris answered without URIs');
      return uris;
    },
    async providerProfiles() {
      const response = await call('/provider-profiles', { method: 'GET' });
      return parseProfiles(await readJson(response), response.status);
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

/** The server's `ProviderTestResult`: every check named, passed or not, and what discovery said. */
function parseTestResult(body: unknown, status: number): ProviderTestResult {
  const record = asRecord(body);
  const ok = record?.['ok'];
  const checks = record?.['checks'];
  if (typeof ok !== 'boolean' || !Array.isArray(checks)) {
    throw invalidResponse(status, 'POST …/test answered 2xx without ok and checks');
  }
  const discovery = asRecord(record?.['discovery']);
  return {
    ok,
    checks: (checks as unknown[]).flatMap((item) => {
      const check = asRecord(item);
      const { name, message, field } = check ?? {};
      if (typeof name !== 'string' || typeof message !== 'string') return [];
      return [
        {
          name: name as ProviderCheckName,
          ok: check?.['ok'] === true,
          message,
          field: typeof field === 'string' ? field : null,
        },
      ];
    }),
    discovery:
      discovery && typeof discovery['issuer'] === 'string'
        ? {
            issuer: discovery['issuer'],
            authorizationEndpoint: stringOrNull(discovery['authorizationEndpoint']),
            tokenEndpoint: stringOrNull(discovery['tokenEndpoint']),
            endSessionEndpoint: stringOrNull(discovery['endSessionEndpoint']),
            backchannelLogoutSupported: discovery['backchannelLogoutSupported'] === true,
            idTokenSigningAlg: stringOrNull(discovery['idTokenSigningAlg']) as NonNullable<
              ProviderTestResult['discovery']
            >['idTokenSigningAlg'],
          }
        : null,
  };
}

/** Known fields only; `defaults` is a partial provider body, copied as JSON data. */
function parseProfiles(body: unknown, status: number): ProviderProfile[] {
  const list = asRecord(body)?.['profiles'];
  if (!Array.isArray(list)) {
    throw invalidResponse(status, 'GET /admin/api/provider-profiles answered without profiles');
  }
  return (list as unknown[]).flatMap((item) => {
    const record = asRecord(item);
    const { id, name, summary, issuerHint } = record ?? {};
    if (typeof id !== 'string' || typeof name !== 'string') return [];
    const defaults = asRecord(record?.['defaults']) ?? {};
    return [
      {
        id: id as ProviderProfile['id'],
        name,
        summary: typeof summary === 'string' ? summary : '',
        issuerHint: typeof issuerHint === 'string' ? issuerHint : '',
        defaults: JSON.parse(JSON.stringify(defaults)) as ProviderProfile['defaults'],
        notes: stringArray(record?.['notes']),
      },
    ];
  });
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
