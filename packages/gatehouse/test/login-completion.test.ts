import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import type { GrantResponse, IdpGrants } from '../src/oidc/idp-grants.ts';
import {
  IdpErrorResponse,
  LOGIN_TRANSACTION_TTL_MS,
  beginLogin,
  completeLogin,
  pkceChallenge,
  type LoginDeps,
} from '../src/oidc/login.ts';
import type { ResolvedProvider } from '../src/oidc/provider-clients.ts';
import { MemoryKeyValueStore } from '../src/session/kv.ts';
import { Vault } from '../src/session/vault.ts';
import type { Provider, Tenant } from '../src/tenants/model.ts';

/**
 * Starting and completing a login (`oidc/login.ts`) against a fake token endpoint and a fake
 * clock: the one-time, browser-bound transaction and how each IdP answer is mapped.
 */
const ISSUER = 'https://idp.example';
const BINDING = 'browser-binding-cookie';
const configuration = new client.Configuration(
  {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/authorize`,
    token_endpoint: `${ISSUER}/token`,
  },
  'gatehouse',
);

const provider = {
  id: 'dev',
  tenant: 'acme',
  issuer: ISSUER,
  clientId: 'gatehouse',
  scopes: ['openid', 'profile', 'offline_access'],
  authorizationParams: { prompt: 'consent', state: 'forged', redirect_uri: 'https://evil.example' },
  enabled: true,
} as unknown as Provider;

interface CodeGrant {
  callbackUrl: URL;
  checks: client.AuthorizationCodeGrantChecks;
  options: client.DPoPOptions | undefined;
}

class FakeIdp implements IdpGrants {
  readonly grants: CodeGrant[] = [];
  answer: () => Promise<GrantResponse> = async () =>
    tokenResponse(
      { access_token: 'at-1', refresh_token: 'rt-1', id_token: 'id-1', refresh_expires_in: 3600 },
      { iss: ISSUER, sub: 'alice', name: 'Alice' },
    );

  async authorizationCode(
    _configuration: client.Configuration,
    callbackUrl: URL,
    checks: client.AuthorizationCodeGrantChecks,
    options?: client.DPoPOptions,
  ): Promise<GrantResponse> {
    this.grants.push({ callbackUrl, checks, options });
    return this.answer();
  }

  async refresh(): Promise<GrantResponse> {
    throw new Error('no refresh in these tests');
  }
}

function tokenResponse(
  body: { access_token: string; [name: string]: unknown },
  claims: Record<string, unknown> | undefined,
): GrantResponse {
  return {
    token_type: 'bearer',
    expires_in: 600,
    ...body,
    claims: () => claims as ReturnType<GrantResponse['claims']>,
    expiresIn: () => 600,
  } as GrantResponse;
}

function setUp(resolvedProvider: Provider = provider) {
  const clock = { now: 1_800_000_000_000 };
  const idp = new FakeIdp();
  const deps: LoginDeps = {
    providers: {
      resolve: async (tenant, id) =>
        tenant === 'acme' && id === 'dev'
          ? ({
              tenant: { id: 'acme' } as Tenant,
              provider: resolvedProvider,
            } satisfies ResolvedProvider)
          : undefined,
      client: async () => configuration,
      redirectUri: (tenant, id) => `https://app.example/bff/callback/${tenant}/${id}`,
    },
    transactions: new MemoryKeyValueStore({ clock: () => clock.now }),
    vault: new Vault([{ kid: 'k1', key: randomBytes(32).toString('base64url') }]),
    clock: () => clock.now,
    grants: idp,
  };
  /** Starts a login and returns the IdP redirect and a callback URL carrying its state. */
  const begin = async () => {
    const url = await beginLogin(deps, {
      tenant: 'acme',
      provider: 'dev',
      returnTo: '/dashboard',
      binding: BINDING,
      resources: ['https://api.example', 'https://other.example'],
    });
    const state = url.searchParams.get('state') ?? '';
    const callback = new URL(`https://app.example/bff/callback/acme/dev?code=c0de&state=${state}`);
    return { url, state, callback };
  };
  const complete = (
    callbackUrl: URL,
    overrides: { tenant?: string; provider?: string; binding?: string | undefined } = {},
  ) =>
    completeLogin(deps, {
      tenant: 'acme',
      provider: 'dev',
      binding: BINDING,
      callbackUrl,
      ...overrides,
    });
  return { clock, idp, deps, begin, complete };
}

describe('beginLogin', () => {
  it('redirects to the IdP with state, nonce, PKCE S256, the scopes and every resource', async () => {
    const { begin } = setUp();
    const { url } = await begin();
    expect(url.origin + url.pathname).toBe(`${ISSUER}/authorize`);
    const params = url.searchParams;
    expect(params.get('client_id')).toBe('gatehouse');
    expect(params.get('response_type')).toBe('code');
    expect(params.get('scope')).toBe('openid profile offline_access');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(params.get('nonce')).toMatch(/^[\w-]{20,}$/);
    expect(params.getAll('resource')).toEqual(['https://api.example', 'https://other.example']);
  });

  it('adds the provider’s extra parameters but never lets them override protocol ones', async () => {
    const { begin } = setUp();
    const { url, state } = await begin();
    expect(url.searchParams.get('prompt')).toBe('consent');
    expect(url.searchParams.getAll('state')).toEqual([state]);
    expect(state).not.toBe('forged');
    expect(url.searchParams.getAll('redirect_uri')).toEqual([
      'https://app.example/bff/callback/acme/dev',
    ]);
  });

  it('refuses an unknown provider with 404 unknown_provider', async () => {
    const { deps } = setUp();
    await expect(
      beginLogin(deps, { tenant: 'acme', provider: 'nope', returnTo: '/', binding: BINDING }),
    ).rejects.toMatchObject({ status: 404, code: 'unknown_provider' });
  });
});

describe('a DPoP provider (RFC 9449)', () => {
  const dpopProvider = { ...provider, dpop: true } as Provider;

  it('binds the code to a fresh key (dpop_jkt) and exchanges it with a proof by that key', async () => {
    const { begin, complete, idp } = setUp(dpopProvider);
    const { url, callback } = await begin();
    const jkt = url.searchParams.get('dpop_jkt');
    expect(jkt).toMatch(/^[\w-]{43}$/);
    idp.answer = async () =>
      tokenResponse(
        { access_token: 'at-1', refresh_token: 'rt-1', token_type: 'dpop' },
        { iss: ISSUER, sub: 'alice' },
      );
    const login = await complete(callback);
    const handle = idp.grants[0]?.options?.DPoP;
    expect(handle).toBeDefined();
    expect(await handle?.calculateThumbprint()).toBe(jkt);
    // The private key goes on to the session record (sealed there).
    expect(login.dpopKey).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(login.dpopKey?.d).toMatch(/^[\w-]{43}$/);
    // Every login has its own key.
    expect((await begin()).url.searchParams.get('dpop_jkt')).not.toBe(jkt);
  });

  it('refuses the sign-in when the IdP answers with Bearer tokens (not bound)', async () => {
    const { begin, complete } = setUp(dpopProvider);
    const { callback } = await begin();
    await expect(complete(callback)).rejects.toMatchObject({ status: 400, code: 'login_failed' });
  });

  it('sends no proof and no dpop_jkt for other providers', async () => {
    const { begin, complete, idp } = setUp();
    const { url, callback } = await begin();
    expect(url.searchParams.has('dpop_jkt')).toBe(false);
    const login = await complete(callback);
    expect(idp.grants[0]?.options).toBeUndefined();
    expect(login.dpopKey).toBeUndefined();
  });
});

describe('completeLogin', () => {
  it('exchanges the code with the transaction’s PKCE verifier, state and nonce', async () => {
    const { begin, complete, idp, clock } = setUp();
    const { url, state, callback } = await begin();
    const login = await complete(callback);
    expect(login.transaction).toMatchObject({
      tenant: 'acme',
      provider: 'dev',
      returnTo: '/dashboard',
    });
    expect(login.tokens).toEqual({
      accessToken: 'at-1',
      refreshToken: 'rt-1',
      idToken: 'id-1',
      expiresAtMs: clock.now + 600_000,
    });
    expect(login.claims).toMatchObject({ sub: 'alice', name: 'Alice' });
    expect(login.refreshExpiresAt).toBe(clock.now + 3_600_000);
    const [grant] = idp.grants;
    expect(grant?.checks).toMatchObject({
      expectedState: state,
      expectedNonce: url.searchParams.get('nonce'),
      idTokenExpected: true,
    });
    // The verifier is the one whose S256 challenge went to the IdP.
    expect(await client.calculatePKCECodeChallenge(grant?.checks.pkceCodeVerifier ?? '')).toBe(
      url.searchParams.get('code_challenge'),
    );
  });

  it("computes the PKCE challenge as RFC 7636's example does (appendix B)", () => {
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('uses the transaction up: a second callback with the same state is refused', async () => {
    const { begin, complete } = setUp();
    const { callback } = await begin();
    await complete(callback);
    await expect(complete(callback)).rejects.toMatchObject({
      status: 400,
      code: 'login_transaction_invalid',
    });
  });

  it('uses the transaction up even when the answer is a refusal', async () => {
    const { begin, complete, idp } = setUp();
    const { callback } = await begin();
    await expect(complete(callback, { binding: 'another browser' })).rejects.toMatchObject({
      code: 'login_transaction_invalid',
    });
    await expect(complete(callback)).rejects.toMatchObject({ code: 'login_transaction_invalid' });
    expect(idp.grants).toHaveLength(0);
  });

  it.each([
    ['an unknown state', (callback: URL) => callback.searchParams.set('state', 'unknown')],
    ['no state', (callback: URL) => callback.searchParams.delete('state')],
  ])('refuses %s with 400 login_transaction_invalid', async (_name, change) => {
    const { begin, complete } = setUp();
    const { callback } = await begin();
    change(callback);
    await expect(complete(callback)).rejects.toMatchObject({
      status: 400,
      code: 'login_transaction_invalid',
    });
  });

  it('refuses a transaction past its lifetime as expired, not as unknown', async () => {
    const { begin, complete, clock } = setUp();
    const { callback } = await begin();
    clock.now += LOGIN_TRANSACTION_TTL_MS;
    await expect(complete(callback)).rejects.toMatchObject({ status: 400, code: 'login_expired' });
  });

  it('tells a spent transaction (the Back button) from one never started here', async () => {
    const { begin, complete } = setUp();
    const { callback } = await begin();
    await complete(callback);
    await expect(complete(callback)).rejects.toMatchObject({
      code: 'login_transaction_invalid',
      message: 'This sign-in was already completed or cancelled.',
    });
    const forged = new URL(callback);
    forged.searchParams.set('state', 'made-up-state');
    await expect(complete(forged)).rejects.toMatchObject({
      code: 'login_transaction_invalid',
      message: 'This sign-in attempt is unknown or was already used.',
    });
  });

  it.each([
    ['another browser', { binding: 'someone else' }],
    ['no browser binding', { binding: undefined }],
    ['the wrong provider', { provider: 'other' }],
    ['the wrong tenant', { tenant: 'globex' }],
  ])('refuses a callback from %s', async (_name, overrides) => {
    const { begin, complete, idp } = setUp();
    const { callback } = await begin();
    await expect(complete(callback, overrides)).rejects.toMatchObject({
      status: 400,
      code: 'login_transaction_invalid',
    });
    expect(idp.grants).toHaveLength(0);
  });

  it.each([
    ['a repeated parameter', '&code=other'],
    ['a bracketed parameter name', '&code[]=x'],
  ])('refuses %s as a malformed callback', async (_name, extra) => {
    const { begin, complete } = setUp();
    const { callback } = await begin();
    await expect(complete(new URL(`${callback.href}${extra}`))).rejects.toMatchObject({
      status: 400,
      code: 'invalid_callback',
    });
  });

  it('turns an IdP error answer into 400 login_failed in our words, keeping theirs as the cause', async () => {
    const { begin, complete, idp } = setUp();
    const { callback } = await begin();
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('error_description', '<b>denied</b>');
    const error = await complete(callback).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      status: 400,
      code: 'login_failed',
      message:
        'The sign-in was cancelled or the identity provider refused it. The identity provider said: access_denied.',
    });
    const cause = (error as Error).cause;
    expect(cause).toBeInstanceOf(IdpErrorResponse);
    expect(cause).toMatchObject({ error: 'access_denied', errorDescription: '<b>denied</b>' });
    expect(idp.grants).toHaveLength(0);
  });

  it('answers an unregistered IdP error code with a generic sentence', async () => {
    const { begin, complete } = setUp();
    const { callback } = await begin();
    callback.searchParams.set('error', '<script>');
    await expect(complete(callback)).rejects.toMatchObject({
      message: 'The identity provider did not sign you in. The identity provider gave an error.',
    });
  });

  const bodyError = (error: string, status: number) =>
    new client.ResponseBodyError('server responded with an error in the response body', {
      cause: { error },
      response: new Response(null, { status }),
    });
  const clientError = (code: string) =>
    Object.assign(new client.ClientError('openid-client check failed'), { code });

  it.each([
    ['invalid_grant', () => bodyError('invalid_grant', 400), 400, 'login_failed'],
    [
      'a failed ID token check',
      () => clientError('OAUTH_JWT_CLAIM_COMPARISON_FAILED'),
      400,
      'login_failed',
    ],
    ['a 5xx', () => bodyError('server_error', 500), 502, 'idp_unavailable'],
    [
      'temporarily_unavailable',
      () => bodyError('temporarily_unavailable', 400),
      502,
      'idp_unavailable',
    ],
    ['a time-out', () => clientError('OAUTH_TIMEOUT'), 502, 'idp_unavailable'],
    ['a non-JSON answer', () => clientError('OAUTH_RESPONSE_IS_NOT_JSON'), 502, 'idp_unavailable'],
    [
      'an answer with a member missing or mistyped',
      () => clientError('OAUTH_INVALID_RESPONSE'),
      502,
      'idp_unavailable',
    ],
    [
      'an unknown token type',
      () => clientError('OAUTH_UNSUPPORTED_OPERATION'),
      502,
      'idp_unavailable',
    ],
    ['an unreachable IdP', () => new TypeError('fetch failed'), 502, 'idp_unavailable'],
    ['invalid_client (401)', () => bodyError('invalid_client', 401), 502, 'idp_client_rejected'],
  ])('maps %s at the token endpoint to %i %s', async (_name, failure, status, code) => {
    const { begin, complete, idp } = setUp();
    idp.answer = async () => {
      throw failure();
    };
    const { callback } = await begin();
    await expect(complete(callback)).rejects.toMatchObject({ status, code });
  });

  it.each([
    ['no code', { code: undefined }],
    ['an iss of another issuer', { iss: 'https://elsewhere.example' }],
    ['an id_token (the implicit flow)', { id_token: 'x.y.z' }],
  ])(
    'refuses a callback with %s before any code exchange (400 login_failed)',
    async (_name, parameters: Record<string, string | undefined>) => {
      const { begin, complete, idp } = setUp();
      const { callback } = await begin();
      for (const [name, value] of Object.entries(parameters)) {
        if (value === undefined) callback.searchParams.delete(name);
        else callback.searchParams.set(name, value);
      }
      await expect(complete(callback)).rejects.toMatchObject({ status: 400, code: 'login_failed' });
      expect(idp.grants).toHaveLength(0);
    },
  );

  it('treats a token answer without an ID token as the IdP failing (502 idp_unavailable)', async () => {
    const { begin, complete, idp } = setUp();
    idp.answer = async () => tokenResponse({ access_token: 'at-1' }, undefined);
    const { callback } = await begin();
    await expect(complete(callback)).rejects.toMatchObject({
      status: 502,
      code: 'idp_unavailable',
    });
  });
});
