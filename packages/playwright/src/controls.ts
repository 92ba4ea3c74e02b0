import type { APIRequestContext, APIResponse } from '@playwright/test';
import { GatehouseFixtureError, type GatehouseTestUser } from './sign-in.ts';

/** The test controls of Gatehouse (`/bff/test-controls/*`) and of the dev IdP. */
export type ControlName =
  'expire-access-token' | 'expire-session' | 'revoke-at-idp' | 'fail-idp' | 'fail-store';

async function problemOf(response: APIResponse): Promise<{ code?: string; detail?: string }> {
  try {
    return (await response.json()) as { code?: string; detail?: string };
  } catch {
    return {};
  }
}

/**
 * Calls one of Gatehouse's test controls as the signed-in browser does: its session cookie
 * (the context's) and `X-CSRF: 1`. The control acts on that session only.
 */
export async function callControl(
  request: APIRequestContext,
  baseURL: string,
  name: ControlName,
  body?: { ms: number },
): Promise<unknown> {
  const url = new URL(`/bff/test-controls/${name}`, baseURL).href;
  const response = await request.post(url, {
    headers: { 'x-csrf': '1' },
    ...(body ? { data: body } : {}),
    maxRedirects: 0,
    failOnStatusCode: false,
  });
  if (response.ok()) return response.status() === 204 ? undefined : response.json();
  const { code, detail } = await problemOf(response);
  if (code === 'test_controls_disabled') {
    throw new GatehouseFixtureError(
      `Gatehouse test controls are off at ${baseURL}: start Gatehouse in development mode with GATEHOUSE_TEST_CONTROLS=1 (config field testControls: true). ${detail ?? ''}`.trim(),
    );
  }
  if (response.status() === 404) {
    throw new GatehouseFixtureError(
      `Gatehouse at ${baseURL} has no test controls: they exist only in development mode with GATEHOUSE_TEST_CONTROLS=1 (production never has them)`,
    );
  }
  if (code === 'unauthenticated' || code === 'session_expired') {
    throw new GatehouseFixtureError(
      `${name}: this browser context has no live Gatehouse session (${code}); sign in first (test.use({ gatehouseUser }) or gatehouse.signIn)`,
    );
  }
  throw new GatehouseFixtureError(
    `${name} failed: HTTP ${response.status()}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}`,
  );
}

/**
 * Has the dev IdP send Gatehouse a real back-channel logout token for the user (signed by the
 * realm's key, to every client of the realm with a back-channel logout URI).
 */
export async function devIdpBackchannelLogout(
  request: APIRequestContext,
  user: GatehouseTestUser,
): Promise<void> {
  const response = await request.post(`${user.idpOrigin}/__control/backchannel-logout`, {
    data: { realm: user.realm, sub: user.sub },
    failOnStatusCode: false,
  });
  if (response.status() === 404) {
    throw new GatehouseFixtureError(
      `the dev IdP at ${user.idpOrigin} has no control API: start it with DEV_IDP_CONTROL_API=1 (GATEHOUSE_TEST_CONTROLS=1 pnpm dev does)`,
    );
  }
  const outcome = (await response.json()) as {
    delivered?: string[];
    failed?: Array<{ client_id: string; error: string }>;
  };
  if (!response.ok() || !outcome.delivered?.length) {
    throw new GatehouseFixtureError(
      `the back-channel logout of ${user.sub} reached no client: ${JSON.stringify(outcome.failed ?? outcome)}`,
    );
  }
}
