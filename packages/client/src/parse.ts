import { GatehouseProblem } from './problem.ts';
import type { GatehouseSessionInfo, GatehouseUser, PublicTenant } from './types.ts';

/** The JSON body of a 2xx answer; unreadable JSON is a problem, not a crash. */
export async function readJson(response: Response): Promise<unknown> {
  try {
    return (await response.json()) as unknown;
  } catch (error) {
    throw new GatehouseProblem(
      {
        type: 'about:blank',
        title: 'Gatehouse sent an unreadable answer',
        status: response.status,
        code: 'invalid_response',
      },
      { cause: error },
    );
  }
}

/** Checks the fields the SDK and SPA rely on; the server's answer is input like any other. */
export function parseUser(body: unknown, status: number): GatehouseUser {
  const user = asRecord(body);
  const claims = asRecord(user?.['claims']);
  const session = asRecord(user?.['session']);
  if (
    !user ||
    !claims ||
    !session ||
    typeof claims['sub'] !== 'string' ||
    typeof user['tenant'] !== 'string' ||
    typeof user['provider'] !== 'string' ||
    typeof user['issuer'] !== 'string' ||
    typeof session['expiresAt'] !== 'string'
  ) {
    throw invalidResponse(status, 'GET /bff/user answered without claims.sub, tenant or session');
  }
  return body as GatehouseUser;
}

export function parseSessions(body: unknown, status: number): GatehouseSessionInfo[] {
  const sessions = asRecord(body)?.['sessions'];
  if (!Array.isArray(sessions)) {
    throw invalidResponse(status, 'GET /bff/sessions answered without a sessions array');
  }
  return sessions.filter(isSessionInfo);
}

function isSessionInfo(value: unknown): value is GatehouseSessionInfo {
  const session = asRecord(value);
  return (
    session !== undefined &&
    typeof session['id'] === 'string' &&
    typeof session['createdAt'] === 'string' &&
    typeof session['lastSeenAt'] === 'string' &&
    typeof session['device'] === 'string' &&
    typeof session['current'] === 'boolean'
  );
}

/** `GET /bff/tenants/:tenant`; providers the server marks disabled are left out. */
export function parsePublicTenant(body: unknown, status: number): PublicTenant {
  const record = asRecord(body);
  const tenant = asRecord(record?.['tenant']);
  const providers = record?.['providers'];
  if (
    !tenant ||
    typeof tenant['id'] !== 'string' ||
    typeof tenant['name'] !== 'string' ||
    !Array.isArray(providers)
  ) {
    throw invalidResponse(status, 'GET /bff/tenants answered without tenant or providers');
  }
  const choices: PublicTenant['providers'] = [];
  for (const item of providers as unknown[]) {
    const provider = asRecord(item);
    if (!provider || provider['enabled'] === false) continue;
    const { id, displayName } = provider;
    if (typeof id === 'string' && typeof displayName === 'string')
      choices.push({ id, displayName });
  }
  return { tenant: { id: tenant['id'], name: tenant['name'] }, providers: choices };
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

export function invalidResponse(status: number, detail: string): GatehouseProblem {
  return new GatehouseProblem({
    type: 'about:blank',
    title: 'Gatehouse sent an unexpected answer',
    status,
    detail,
    code: 'invalid_response',
  });
}
