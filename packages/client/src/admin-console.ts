import type {
  ApiKeyInfo,
  AuditPage,
  ClientKeyList,
  ClientKeyRotated,
  IssuedApiKey,
  SessionsEnded,
  TenantSession,
} from './admin-contract.ts';
import { asRecord, invalidResponse, readJson } from './parse.ts';
import type { AdminCall, GatehouseAdminConsole } from './types.ts';

export function createAdminConsoleApi(call: AdminCall): GatehouseAdminConsole {
  const tenantPath = (tenant: string) => `/tenants/${encodeURIComponent(tenant)}`;

  async function getList<T>(path: string, field: string): Promise<T[]> {
    const response = await call(path, { method: 'GET' });
    const list = asRecord(await readJson(response))?.[field];
    if (!Array.isArray(list)) {
      throw invalidResponse(response.status, `GET …${path} answered without a ${field} array`);
    }
    return list as T[];
  }

  async function ended(path: string): Promise<SessionsEnded> {
    const response = await call(path, { method: 'DELETE' });
    const count = asRecord(await readJson(response))?.['ended'];
    if (typeof count !== 'number') {
      throw invalidResponse(response.status, 'the admin API answered without a count');
    }
    return { ended: count };
  }

  const keysPath = (tenant: string, provider: string) =>
    `${tenantPath(tenant)}/providers/${encodeURIComponent(provider)}/keys`;

  /** The keys answer, checked for its shape before the console shows it. */
  function keyList<T extends ClientKeyList>(body: unknown, status: number): T {
    const record = asRecord(body);
    if (typeof record?.['jwksUri'] !== 'string' || !Array.isArray(record['keys'])) {
      throw invalidResponse(status, 'the admin API answered without jwksUri and keys');
    }
    return record as unknown as T;
  }

  return {
    async listClientKeys(tenant, provider) {
      const response = await call(keysPath(tenant, provider), { method: 'GET' });
      return keyList<ClientKeyList>(await readJson(response), response.status);
    },
    async rotateClientKey(tenant, provider) {
      const response = await call(`${keysPath(tenant, provider)}/rotate`, { method: 'POST' });
      return keyList<ClientKeyRotated>(await readJson(response), response.status);
    },
    async retireClientKey(tenant, provider, kid) {
      await call(`${keysPath(tenant, provider)}/${encodeURIComponent(kid)}`, { method: 'DELETE' });
    },
    listSessions: (tenant) => getList<TenantSession>(`${tenantPath(tenant)}/sessions`, 'sessions'),
    endSession: (tenant, handle) =>
      ended(`${tenantPath(tenant)}/sessions/${encodeURIComponent(handle)}`),
    endUserSessions: (tenant, provider, sub) =>
      ended(
        `${tenantPath(tenant)}/providers/${encodeURIComponent(provider)}/users/${encodeURIComponent(sub)}/sessions`,
      ),
    listApiKeys: (tenant) => getList<ApiKeyInfo>(`${tenantPath(tenant)}/api-keys`, 'apiKeys'),
    async issueApiKey(tenant, label) {
      const response = await call(`${tenantPath(tenant)}/api-keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(label === undefined || label === '' ? {} : { label }),
      });
      const body = asRecord(await readJson(response));
      if (typeof body?.['key'] !== 'string' || typeof body['id'] !== 'string') {
        throw invalidResponse(response.status, 'POST …/api-keys answered without the key');
      }
      return body as unknown as IssuedApiKey;
    },
    async revokeApiKey(tenant, keyId) {
      await call(`${tenantPath(tenant)}/api-keys/${encodeURIComponent(keyId)}`, {
        method: 'DELETE',
      });
    },
    async auditTrail(tenant, query = {}) {
      const search = new URLSearchParams();
      if (query.since !== undefined) search.set('since', query.since);
      if (query.action !== undefined) search.set('action', query.action);
      if (query.limit !== undefined) search.set('limit', String(query.limit));
      const suffix = search.size > 0 ? `?${search.toString()}` : '';
      const response = await call(`${tenantPath(tenant)}/audit${suffix}`, { method: 'GET' });
      const body = asRecord(await readJson(response));
      if (!Array.isArray(body?.['events'])) {
        throw invalidResponse(response.status, 'GET …/audit answered without events');
      }
      return body as unknown as AuditPage;
    },
  };
}
