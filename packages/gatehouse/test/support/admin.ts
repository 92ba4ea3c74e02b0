import type { CookieFetch, Stack } from '@gatehouse/testkit';

/** The operator token of the admin test stacks (test-only value). */
export const ADMIN_TOKEN = 'test-operator-token-0123456789abcdefghij';

/** `startStack({ configure })` hook: turns the admin API's operator on. */
export const withAdminToken = <T extends object>(input: T): T => ({
  ...input,
  adminToken: ADMIN_TOKEN,
});

/** How a caller authenticates: a bearer token, or a signed-in cookie jar (with X-CSRF: 1). */
export interface Caller {
  name: string;
  bearer?: string;
  jar?: CookieFetch;
}

export interface AdminAnswer {
  status: number;
  contentType: string;
  text: string;
  body: Record<string, unknown>;
}

/** Every answer of every admin call, for the "no secret in any answer" check. */
export const recordedAnswers: string[] = [];

/** One admin API call as `caller`; JSON bodies in, parsed JSON (or problem+json) out. */
export async function adminCall(
  origin: string,
  caller: Caller,
  method: string,
  path: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<AdminAnswer> {
  const headers: Record<string, string> = { ...extraHeaders };
  if (caller.bearer) headers.authorization = `Bearer ${caller.bearer}`;
  if (caller.jar) headers['x-csrf'] ??= '1';
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const init: RequestInit = {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  };
  const url = `${origin}/admin/api${path}`;
  const res = caller.jar ? await caller.jar(url, init) : await fetch(url, init);
  const text = await res.text();
  recordedAnswers.push(text, JSON.stringify([...res.headers]));
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // not JSON; `text` says what it was
  }
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    text,
    body: parsed,
  };
}

/** A provider registration for one of the dev IdP realms ('' = acme's, '/globex'). */
export function devIdpProvider(
  stack: Stack,
  id: string,
  realm: '' | '/globex',
  clientSecret: string,
  overrides: Record<string, unknown> = {},
) {
  return {
    id,
    displayName: `Provider ${id}`,
    issuer: stack.idp.issuer(realm),
    clientId: realm ? 'gatehouse-globex' : 'gatehouse-acme',
    clientSecret,
    authorizationParams: { prompt: 'consent' },
    ...overrides,
  };
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
