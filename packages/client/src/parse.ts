import { GatehouseProblem } from './problem.ts';
import type { GatehouseSessionInfo, GatehouseUser } from './types.ts';

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

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function invalidResponse(status: number, detail: string): GatehouseProblem {
  return new GatehouseProblem({
    type: 'about:blank',
    title: 'Gatehouse sent an unexpected answer',
    status,
    detail,
    code: 'invalid_response',
  });
}
