import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  completeDevIdpLogin,
  DEMO_API_RESOURCE,
  defaultRealms,
  DEV_CLIENTS,
  startDevIdp,
} from '../src/index.ts';
import type { FetchWithCookies, RunningDevIdp } from '../src/index.ts';
import { createCookieFetch, submitLogoutConfirmation } from './helpers.ts';

const GATEHOUSE = 'http://localhost:3999';
const REDIRECT_URI = `${GATEHOUSE}/bff/callback/acme/dev`;

let idp: RunningDevIdp;
let config: client.Configuration;

beforeAll(async () => {
  idp = await startDevIdp({ realms: defaultRealms({ gatehouseOrigin: GATEHOUSE }) });
  config = await client.discovery(
    new URL(idp.issuer()),
    DEV_CLIENTS.acme.clientId,
    undefined,
    client.ClientSecretBasic(DEV_CLIENTS.acme.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
});

afterAll(async () => {
  await idp.close();
});

/** Runs the browser part of a code + PKCE login and redeems the code. */
async function login(fetchWithCookies: FetchWithCookies, user = 'alice') {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const expectedState = client.randomState();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state: expectedState,
    prompt: 'consent',
  });
  const callback = await completeDevIdpLogin(fetchWithCookies, authorizationUrl.href, {
    login: user,
    password: user,
  });
  expect(callback.startsWith(`${REDIRECT_URI}?`)).toBe(true);
  return client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier,
    expectedState,
  });
}

async function verifyAccessToken(token: string) {
  const jwks = createRemoteJWKSet(new URL(`${idp.issuer()}/jwks`));
  return jwtVerify(token, jwks, {
    issuer: idp.issuer(),
    audience: DEMO_API_RESOURCE,
    typ: 'at+jwt',
  });
}

async function expectInvalidGrant(refreshToken: string) {
  await expect(client.refreshTokenGrant(config, refreshToken)).rejects.toMatchObject({
    error: 'invalid_grant',
  });
}

describe('authorization code + PKCE at the root realm', () => {
  it('issues an ID token with profile, email, roles and sid claims', async () => {
    const tokens = await login(createCookieFetch());
    const claims = tokens.claims();
    expect(claims).toMatchObject({
      iss: idp.issuer(),
      sub: 'alice',
      aud: DEV_CLIENTS.acme.clientId,
      name: 'Alice Anderson',
      email: 'alice@acme.test',
      email_verified: true,
      roles: ['gatehouse-admin'],
    });
    expect(typeof claims?.['sid']).toBe('string');
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('issues a JWT access token (typ at+jwt) for the demo API without a resource parameter', async () => {
    const tokens = await login(createCookieFetch(), 'bob');
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({
      typ: 'at+jwt',
      alg: 'RS256',
    });
    const { payload } = await verifyAccessToken(tokens.access_token);
    expect(payload).toMatchObject({ sub: 'bob', client_id: DEV_CLIENTS.acme.clientId });
    expect(String(payload['scope']).split(' ')).toEqual(
      expect.arrayContaining(['openid', 'profile', 'email']),
    );
    expect(typeof payload.exp).toBe('number');
  });

  it('rotates refresh tokens and keeps issuing demo API JWTs on refresh', async () => {
    const first = await login(createCookieFetch());
    const refreshed = await client.refreshTokenGrant(config, first.refresh_token ?? '');
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    const { payload } = await verifyAccessToken(refreshed.access_token);
    expect(payload.sub).toBe('alice');
  });

  it('treats reuse of a rotated refresh token as theft: invalid_grant and the newer token dies too', async () => {
    const first = await login(createCookieFetch());
    const oldToken = first.refresh_token ?? '';
    const second = await client.refreshTokenGrant(config, oldToken);
    await expectInvalidGrant(oldToken);
    await expectInvalidGrant(second.refresh_token ?? '');
  });

  it('revocation makes introspection report the refresh token inactive', async () => {
    const tokens = await login(createCookieFetch());
    const refreshToken = tokens.refresh_token ?? '';
    await expect(client.tokenIntrospection(config, refreshToken)).resolves.toMatchObject({
      active: true,
      sub: 'alice',
    });
    await client.tokenRevocation(config, refreshToken);
    await expect(client.tokenIntrospection(config, refreshToken)).resolves.toMatchObject({
      active: false,
    });
  });

  it('RP-initiated logout with id_token_hint returns to the post_logout_redirect_uri and ends the session', async () => {
    const jar = createCookieFetch();
    const tokens = await login(jar);
    const endSessionUrl = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: `${GATEHOUSE}/bff/signed-out`,
      state: 'bye',
    });
    const { html, response: done } = await submitLogoutConfirmation(jar, endSessionUrl.href);
    expect(html).toContain('document.forms[0].submit()');
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`${GATEHOUSE}/bff/signed-out?state=bye`);
    // The IdP session is gone: a new authorization request asks for credentials again.
    const again = await jar(client.buildAuthorizationUrl(config, authParams()).href);
    const loginPage = await jar(new URL(again.headers.get('location') ?? '', idp.origin).href);
    expect(await loginPage.text()).toContain('name="password"');
  });
});

function authParams(extra: Record<string, string> = {}) {
  return {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    ...extra,
  };
}

describe('authorization request policy', () => {
  it('requires PKCE', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
    });
    const res = await fetch(url, { redirect: 'manual' });
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_request');
  });

  it('refuses unknown resource indicators', async () => {
    const url = client.buildAuthorizationUrl(config, authParams({ resource: 'urn:someone-else' }));
    const res = await fetch(url, { redirect: 'manual' });
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_target');
  });
});

describe('signingAlg: ES256', () => {
  it('announces only ES256, signs ID and access tokens with it, and keeps a realm’s own list', async () => {
    const realms = defaultRealms({ gatehouseOrigin: GATEHOUSE });
    // A realm that lists its own algorithms keeps them (and RS256 access tokens).
    const globex = realms[1];
    if (globex) globex.idTokenSigningAlgs = ['RS256', 'PS256'];
    const es = await startDevIdp({ realms, signingAlg: 'ES256' });
    try {
      const esConfig = await client.discovery(
        new URL(es.issuer()),
        DEV_CLIENTS.acme.clientId,
        // The algorithm the realm announces (as Gatehouse takes it from discovery).
        { id_token_signed_response_alg: 'ES256' },
        client.ClientSecretBasic(DEV_CLIENTS.acme.clientSecret),
        { execute: [client.allowInsecureRequests] },
      );
      expect(esConfig.serverMetadata().id_token_signing_alg_values_supported).toEqual(['ES256']);
      const globexMetadata = (await (
        await fetch(`${es.issuer('/globex')}/.well-known/openid-configuration`)
      ).json()) as { id_token_signing_alg_values_supported: string[] };
      expect(globexMetadata.id_token_signing_alg_values_supported).toEqual(['RS256', 'PS256']);

      const pkceCodeVerifier = client.randomPKCECodeVerifier();
      const authorizationUrl = client.buildAuthorizationUrl(esConfig, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile',
        code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
        code_challenge_method: 'S256',
        resource: DEMO_API_RESOURCE,
      });
      const callback = await completeDevIdpLogin(createCookieFetch(), authorizationUrl.href, {
        login: 'alice',
        password: 'alice',
      });
      // openid-client checks the ID token's signature, with ES256 as registered.
      const tokens = await client.authorizationCodeGrant(esConfig, new URL(callback), {
        pkceCodeVerifier,
        expectedState: client.skipStateCheck,
      });
      expect(decodeProtectedHeader(tokens.id_token ?? '').alg).toBe('ES256');
      expect(tokens.claims()?.sub).toBe('alice');
      const { protectedHeader } = await jwtVerify(
        tokens.access_token,
        createRemoteJWKSet(new URL(`${es.issuer()}/jwks`)),
        { issuer: es.issuer(), audience: DEMO_API_RESOURCE, algorithms: ['ES256'] },
      );
      expect(protectedHeader.alg).toBe('ES256');
    } finally {
      await es.close();
    }
  });
});
