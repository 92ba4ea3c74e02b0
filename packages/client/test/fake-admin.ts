/// <reference types="node" />
import type { IncomingMessage, ServerResponse } from 'node:http';
import { send, sendJson, sendProblem } from './fake-http.ts';
import type { ProviderTestResult, ProviderView, TenantProvider } from '../src/index.ts';

/** An admin API request as the fake saw it. */
export interface AdminRequest {
  method: string;
  path: string;
  csrf: string | undefined;
  contentType: string | undefined;
  body: string;
}

interface StoredProvider {
  id: string;
  tenant: string;
  displayName: string;
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  tokenEndpointAuthMethod: string;
  scopes: string[];
  authorizationParams: Record<string, string>;
  enabled: boolean;
  source: 'config' | 'dynamic';
}

/**
 * The public tenant endpoint and the tenant admin API of the Gatehouse HTTP contract, with
 * knobs to stage the answers the SDK must cope with.
 */
export interface FakeAdmin {
  /** What `GET /admin/api/me` says about the signed-in user; `undefined` answers 403. */
  role: 'operator' | 'tenant-admin' | undefined;
  /** The tenant a tenant admin administers (other tenants answer 403). */
  adminTenant: string;
  /** Answer every admin call 401 with this code, as if the credential were refused. */
  refuseWithCode: string | undefined;
  /** `bare`: list items come without the `{ provider, redirectUri }` wrapper. */
  listShape: 'wrapped' | 'bare';
  /** Merged into every provider the API returns (to stage a server that says too much). */
  extraProviderFields: Record<string, unknown>;
  readonly received: AdminRequest[];
  /** The secret stored for a provider (what the server would keep encrypted). */
  storedSecret(tenant: string, id: string): string | undefined;
  reset(): void;
  /** Answers the request and returns true when it belongs to this fake. */
  handle(req: IncomingMessage, url: URL, body: string, res: ServerResponse): boolean;
}

export interface FakeAdminOptions {
  baseUrl: () => string;
  /** Answers 401 and returns false when the browser has no live session. */
  checkSession: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Answers 403 and returns false without `X-CSRF: 1`. */
  checkCsrf: (req: IncomingMessage, res: ServerResponse) => boolean;
}

const TENANT_NAMES: Record<string, string> = { acme: 'Acme Corporation', globex: 'Globex' };
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

function seedProviders(): StoredProvider[] {
  const base = {
    clientSecret: 'config-secret',
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: ['openid', 'profile', 'email'],
    authorizationParams: {},
  };
  return [
    {
      ...base,
      id: 'dev',
      tenant: 'acme',
      displayName: 'Acme Dev IdP',
      issuer: 'http://localhost:4000',
      clientId: 'gatehouse',
      enabled: true,
      source: 'config',
    },
    {
      ...base,
      id: 'legacy',
      tenant: 'acme',
      displayName: 'Legacy SSO',
      issuer: 'https://legacy.acme.example',
      clientId: 'gh-legacy',
      enabled: false,
      source: 'dynamic',
    },
    {
      ...base,
      id: 'okta',
      tenant: 'globex',
      displayName: 'Globex Okta',
      issuer: 'https://globex.okta.example',
      clientId: 'gh',
      enabled: true,
      source: 'dynamic',
    },
  ];
}

export function createFakeAdmin(options: FakeAdminOptions): FakeAdmin {
  let providers = seedProviders();

  const admin: FakeAdmin = {
    role: 'tenant-admin',
    adminTenant: 'acme',
    refuseWithCode: undefined,
    listShape: 'wrapped',
    extraProviderFields: {},
    received: [],
    storedSecret: (tenant, id) => find(tenant, id)?.clientSecret,
    reset() {
      providers = seedProviders();
      admin.role = 'tenant-admin';
      admin.adminTenant = 'acme';
      admin.refuseWithCode = undefined;
      admin.listShape = 'wrapped';
      admin.extraProviderFields = {};
      admin.received.length = 0;
    },
    handle(req, url, body, res) {
      const publicTenant = /^\/bff\/tenants\/([^/]+)$/.exec(url.pathname);
      if (publicTenant?.[1] !== undefined && req.method === 'GET') {
        answerPublicTenant(decodeURIComponent(publicTenant[1]), res);
        return true;
      }
      if (!url.pathname.startsWith('/admin/api/')) return false;
      admin.received.push({
        method: req.method ?? '',
        path: url.pathname,
        csrf: header(req, 'x-csrf'),
        contentType: header(req, 'content-type'),
        body,
      });
      routeAdmin(req, url.pathname.slice('/admin/api'.length), body, res);
      return true;
    },
  };

  function find(tenant: string, id: string): StoredProvider | undefined {
    return providers.find((p) => p.tenant === tenant && p.id === id);
  }

  // Lists disabled providers too, flagged, so the SDK's own filter is exercised.
  function answerPublicTenant(tenant: string, res: ServerResponse): void {
    const name = TENANT_NAMES[tenant];
    if (name === undefined) {
      sendProblem(res, 404, 'unknown_tenant', 'Not Found', { detail: 'Unknown organisation.' });
      return;
    }
    const list = providers
      .filter((p) => p.tenant === tenant)
      .map((p) => ({ id: p.id, displayName: p.displayName, enabled: p.enabled }));
    sendJson(res, 200, { tenant: { id: tenant, name }, providers: list });
  }

  function view(p: StoredProvider): unknown {
    const provider = {
      id: p.id,
      tenant: p.tenant,
      displayName: p.displayName,
      issuer: p.issuer,
      clientId: p.clientId,
      hasClientSecret: p.clientSecret !== undefined,
      tokenEndpointAuthMethod: p.tokenEndpointAuthMethod,
      scopes: p.scopes,
      authorizationParams: p.authorizationParams,
      enabled: p.enabled,
      source: p.source,
      createdAt: p.source === 'config' ? null : '2026-01-02T03:04:05.000Z',
      updatedAt: p.source === 'config' ? null : '2026-01-02T03:04:05.000Z',
      ...admin.extraProviderFields,
    };
    const base = `${options.baseUrl()}/bff`;
    const uris = {
      redirectUri: `${base}/callback/${p.tenant}/${p.id}`,
      postLogoutRedirectUri: `${base}/signed-out`,
      backchannelLogoutUri: `${base}/backchannel-logout/${p.tenant}/${p.id}`,
      jwksUri: `${base}/jwks/${p.tenant}/${p.id}`,
    };
    return {
      provider: provider as TenantProvider,
      uris,
      redirectUri: uris.redirectUri,
      backchannelLogoutUri: uris.backchannelLogoutUri,
    } satisfies ProviderView;
  }

  /** Session, CSRF, then the caller's admin rights over `tenant` (when there is one). */
  function authorize(req: IncomingMessage, res: ServerResponse, tenant?: string): boolean {
    if (!options.checkCsrf(req, res) || !options.checkSession(req, res)) return false;
    if (admin.refuseWithCode !== undefined) {
      sendProblem(res, 401, admin.refuseWithCode, 'Unauthorized');
      return false;
    }
    const allowed =
      admin.role === 'operator' ||
      (admin.role === 'tenant-admin' && (tenant === undefined || tenant === admin.adminTenant));
    if (!allowed) {
      const code = admin.role === 'tenant-admin' ? 'tenant_forbidden' : 'not_admin';
      sendProblem(res, 403, code, 'Forbidden');
    }
    return allowed;
  }

  function routeAdmin(req: IncomingMessage, path: string, body: string, res: ServerResponse): void {
    if (path === '/me' && req.method === 'GET') {
      if (!authorize(req, res)) return;
      sendJson(
        res,
        200,
        admin.role === 'operator'
          ? { role: 'operator' }
          : { role: admin.role, tenant: admin.adminTenant },
      );
      return;
    }
    const match = /^\/tenants\/([^/]+)\/providers(?:\/([^/]+))?(\/test)?$/.exec(path);
    if (!match?.[1]) {
      sendProblem(res, 404, 'not_found', 'Not Found');
      return;
    }
    const tenant = decodeURIComponent(match[1]);
    const id = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    if (!authorize(req, res, tenant)) return;
    if (id === undefined) {
      if (req.method === 'GET') listProviders(tenant, res);
      else if (req.method === 'POST') createProvider(tenant, body, res);
      else sendProblem(res, 405, 'method_not_allowed', 'Method Not Allowed');
      return;
    }
    const provider = find(tenant, id);
    if (!provider) {
      sendProblem(res, 404, 'unknown_provider', 'Not Found');
      return;
    }
    if (match[3] !== undefined && req.method === 'POST') testProvider(provider, res);
    else if (match[3] !== undefined)
      sendProblem(res, 405, 'method_not_allowed', 'Method Not Allowed');
    else if (provider.source === 'config' && req.method !== 'GET') {
      sendProblem(res, 409, 'read_only', 'Conflict', {
        detail: 'This provider comes from the configuration file.',
      });
    } else if (req.method === 'PATCH') updateProvider(provider, body, res);
    else if (req.method === 'DELETE') {
      providers = providers.filter((p) => p !== provider);
      send(res, 204);
    } else sendProblem(res, 405, 'method_not_allowed', 'Method Not Allowed');
  }

  function listProviders(tenant: string, res: ServerResponse): void {
    const list = providers.filter((p) => p.tenant === tenant).map(view);
    const items =
      admin.listShape === 'wrapped'
        ? list
        : list.map((item) => (item as { provider: unknown }).provider);
    sendJson(res, 200, { providers: items });
  }

  function createProvider(tenant: string, body: string, res: ServerResponse): void {
    const input = parseBody(body, res);
    if (!input || !validate(input, res, true) || !checkIssuer(input, res)) return;
    const id = String(input['id']);
    if (find(tenant, id)) {
      sendProblem(res, 409, 'provider_exists', 'Conflict');
      return;
    }
    const provider: StoredProvider = {
      id,
      tenant,
      displayName: String(input['displayName']),
      issuer: String(input['issuer']),
      clientId: String(input['clientId']),
      clientSecret: typeof input['clientSecret'] === 'string' ? input['clientSecret'] : undefined,
      tokenEndpointAuthMethod: String(input['tokenEndpointAuthMethod']),
      scopes: (input['scopes'] as string[] | undefined) ?? ['openid'],
      authorizationParams:
        (input['authorizationParams'] as Record<string, string> | undefined) ?? {},
      enabled: input['enabled'] !== false,
      source: 'dynamic',
    };
    providers.push(provider);
    sendJson(res, 201, view(provider));
  }

  function updateProvider(provider: StoredProvider, body: string, res: ServerResponse): void {
    const input = parseBody(body, res);
    if (!input || !validate(input, res, false) || !checkIssuer(input, res)) return;
    const text = (key: string) => (typeof input[key] === 'string' ? input[key] : undefined);
    provider.displayName = text('displayName') ?? provider.displayName;
    provider.issuer = text('issuer') ?? provider.issuer;
    provider.clientId = text('clientId') ?? provider.clientId;
    provider.clientSecret = text('clientSecret') ?? provider.clientSecret;
    provider.tokenEndpointAuthMethod =
      text('tokenEndpointAuthMethod') ?? provider.tokenEndpointAuthMethod;
    if (Array.isArray(input['scopes'])) provider.scopes = input['scopes'] as string[];
    if (typeof input['enabled'] === 'boolean') provider.enabled = input['enabled'];
    sendJson(res, 200, view(provider));
  }

  function testProvider(provider: StoredProvider, res: ServerResponse): void {
    if (provider.issuer.includes('broken')) {
      sendProblem(res, 422, 'provider_check_failed', 'Unprocessable Content', {
        check: 'jwks_unavailable',
        detail: 'The jwks_uri could not be fetched.',
      });
      return;
    }
    sendJson(res, 200, {
      ok: true,
      checks: ['issuer_scheme', 'discovery_failed', 'issuer_mismatch', 'pkce_unsupported'],
      issuer: provider.issuer,
      authorizationEndpoint: `${provider.issuer}/auth`,
      tokenEndpoint: `${provider.issuer}/token`,
      endSessionEndpoint: null,
      backchannelLogoutSupported: true,
    } satisfies ProviderTestResult);
  }

  return admin;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function parseBody(body: string, res: ServerResponse): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // Falls through to the 400 below.
  }
  sendProblem(res, 400, 'entity_parse_failed', 'Bad Request');
  return undefined;
}

/** The shape checks of the real API, reported field by field (paths as arrays, like zod's). */
function validate(input: Record<string, unknown>, res: ServerResponse, creating: boolean): boolean {
  const errors: Array<{ path: string[]; message: string }> = [];
  const required = creating ? ['id', 'displayName', 'issuer', 'clientId'] : [];
  for (const key of required) {
    if (typeof input[key] !== 'string' || input[key] === '') {
      errors.push({ path: [key], message: 'Required' });
    }
  }
  const issuer = input['issuer'];
  if (typeof issuer === 'string' && !issuer.startsWith('https://')) {
    errors.push({ path: ['issuer'], message: 'The issuer must be an https URL.' });
  }
  const method = input['tokenEndpointAuthMethod'];
  if ((creating || method !== undefined) && !AUTH_METHODS.includes(String(method))) {
    errors.push({ path: ['tokenEndpointAuthMethod'], message: 'Unknown method.' });
  }
  if (errors.length === 0) return true;
  sendProblem(res, 422, 'validation_failed', 'Unprocessable Content', { errors });
  return false;
}

/** Stands in for discovery: an issuer on `mismatch.example` announces another issuer. */
function checkIssuer(input: Record<string, unknown>, res: ServerResponse): boolean {
  const issuer = input['issuer'];
  if (typeof issuer !== 'string' || !issuer.includes('mismatch.example')) return true;
  sendProblem(res, 422, 'provider_check_failed', 'Unprocessable Content', {
    check: 'issuer_mismatch',
    detail: 'The discovery document names a different issuer.',
  });
  return false;
}
