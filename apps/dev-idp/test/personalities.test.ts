import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  type CryptoKey as JoseCryptoKey,
} from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin, PERSONALITY_PATHS, startDevIdp } from '../src/index.ts';
import type { DevIdpClient, FetchWithCookies, Personality, RunningDevIdp } from '../src/index.ts';
import { createCookieFetch } from './helpers.ts';

/**
 * The personalities' quirks, one OP per personality, driven like a relying party would: with
 * openid-client and the dev IdP's real login and consent pages.
 */
const RP = 'http://localhost:3998';
const REDIRECT_URI = `${RP}/callback`;
const SIGNED_OUT = `${RP}/signed-out`;
const CLIENT_ID = 'rp';
const SECRET = 'personality-test-secret';
const AUDIENCE = 'urn:example:api';

const running: RunningDevIdp[] = [];
afterAll(async () => {
  await Promise.all(running.map((idp) => idp.close()));
});

/** The dev IdP without a personality, for comparison. */
async function startPlain(): Promise<RunningDevIdp> {
  const idp = await startDevIdp({
    realms: [
      {
        path: '',
        users: [{ id: 'alice', password: 'alice', name: 'Alice', email: 'alice@example.test' }],
        clients: [{ client_id: CLIENT_ID, client_secret: SECRET, redirect_uris: [REDIRECT_URI] }],
      },
    ],
  });
  running.push(idp);
  return idp;
}

async function startPersonality(
  personality: Personality,
  clientOverrides: Partial<DevIdpClient> = {},
): Promise<RunningDevIdp> {
  const path = PERSONALITY_PATHS[personality];
  const idp = await startDevIdp({
    realms: [
      {
        path,
        personality,
        users: [{ id: 'alice', password: 'alice', name: 'Alice', email: 'alice@example.test' }],
        clients: [
          {
            client_id: CLIENT_ID,
            client_secret: SECRET,
            redirect_uris: [REDIRECT_URI],
            post_logout_redirect_uris: [SIGNED_OUT],
            ...clientOverrides,
          },
        ],
      },
    ],
    resources: { [AUDIENCE]: {} },
    controlApi: true,
  });
  running.push(idp);
  paths.set(idp, path);
  return idp;
}

async function discover(idp: RunningDevIdp, auth = client.ClientSecretBasic(SECRET)) {
  return client.discovery(new URL(idp.issuer(pathOf(idp))), CLIENT_ID, undefined, auth, {
    execute: [client.allowInsecureRequests],
  });
}

const paths = new Map<RunningDevIdp, string>();
const pathOf = (idp: RunningDevIdp) => paths.get(idp) ?? '';

async function metadataOf(idp: RunningDevIdp): Promise<Record<string, unknown>> {
  const issuer = idp.issuer(pathOf(idp)).replace(/\/$/, '');
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** The browser part of a code + PKCE login; returns the callback URL the OP redirected to. */
async function authorize(
  config: client.Configuration,
  params: Record<string, string>,
  jar: FetchWithCookies = createCookieFetch(),
) {
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'st',
    ...params,
  });
  const callback = await completeDevIdpLogin(jar, url.href, { login: 'alice', password: 'alice' });
  return { callback: new URL(callback), verifier, jar };
}

async function login(config: client.Configuration, params: Record<string, string> = {}) {
  const { callback, verifier, jar } = await authorize(config, params);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: 'st',
  });
  return { tokens, jar };
}

/** The error an OP redirected back with instead of a code (or `undefined`). */
async function authorizationError(url: URL): Promise<string | null> {
  const res = await fetch(url, { redirect: 'manual' });
  const location = res.headers.get('location');
  expect(res.status, 'redirected back to the RP').toBe(303);
  return new URL(location ?? '', url).searchParams.get('error');
}

describe('Microsoft Entra ID', () => {
  let idp: RunningDevIdp;
  beforeAll(async () => {
    idp = await startPersonality('entra');
  });

  it('has a tenant issuer path and leaves PKCE, revocation and back-channel logout out of discovery', async () => {
    expect(idp.issuer(pathOf(idp))).toBe(`${idp.origin}${PERSONALITY_PATHS.entra}`);
    expect(idp.issuer(pathOf(idp))).toMatch(/\/[0-9a-f-]{36}\/v2\.0$/);
    const metadata = await metadataOf(idp);
    expect(metadata.issuer).toBe(idp.issuer(pathOf(idp)));
    expect(metadata).not.toHaveProperty('code_challenge_methods_supported');
    expect(metadata).not.toHaveProperty('revocation_endpoint');
    expect(metadata).not.toHaveProperty('backchannel_logout_supported');
    expect(metadata.end_session_endpoint).toEqual(expect.any(String));
  });

  it('still enforces PKCE: an authorization request without a code challenge is refused', async () => {
    const config = await discover(idp);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 'st',
    });
    expect(await authorizationError(url)).toBe('invalid_request');
    const { tokens } = await login(config);
    expect(tokens.claims()?.iss).toBe(idp.issuer(pathOf(idp)));
  });
});

describe('Google', () => {
  let idp: RunningDevIdp;
  let config: client.Configuration;
  beforeAll(async () => {
    idp = await startPersonality('google');
    config = await discover(idp);
  });

  it('has no end_session_endpoint nor back-channel logout, and does not list offline_access', async () => {
    const metadata = await metadataOf(idp);
    expect(metadata).not.toHaveProperty('end_session_endpoint');
    expect(metadata).not.toHaveProperty('backchannel_logout_supported');
    expect(metadata.scopes_supported).not.toContain('offline_access');
    expect(metadata.revocation_endpoint).toEqual(expect.any(String));
  });

  it('refuses the offline_access scope with invalid_scope', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email offline_access',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'st',
    });
    expect(await authorizationError(url)).toBe('invalid_scope');
  });

  it('issues a refresh token only for access_type=offline with prompt=consent', async () => {
    const offline = await login(config, { access_type: 'offline', prompt: 'consent' });
    expect(offline.tokens.refresh_token).toEqual(expect.any(String));
    const refreshed = await client.refreshTokenGrant(config, offline.tokens.refresh_token ?? '');
    expect(refreshed.access_token).toEqual(expect.any(String));

    expect((await login(config, { access_type: 'offline' })).tokens.refresh_token).toBeUndefined();
    expect((await login(config, { prompt: 'consent' })).tokens.refresh_token).toBeUndefined();
    expect((await login(config)).tokens.refresh_token).toBeUndefined();
  });

  it('refuses an access_type other than online or offline', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      access_type: 'forever',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'st',
    });
    expect(await authorizationError(url)).toBe('invalid_request');
  });
});

describe('Okta', () => {
  it('refuses an end-session request without id_token_hint, accepts one with it', async () => {
    const idp = await startPersonality('okta');
    expect(idp.issuer(pathOf(idp))).toBe(`${idp.origin}/oauth2/default`);
    const config = await discover(idp);
    const { tokens, jar } = await login(config);

    const bare = client.buildEndSessionUrl(config, { post_logout_redirect_uri: SIGNED_OUT });
    const refused = await jar(bare.href);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('id_token_hint is required');

    const hinted = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: SIGNED_OUT,
    });
    const page = await jar(hinted.href);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form');
  });

  it('issues a refresh token for offline_access without prompt=consent, unlike a plain OP', async () => {
    const okta = await discover(await startPersonality('okta'));
    const { tokens } = await login(okta, { scope: 'openid offline_access' });
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const plain = await discover(await startPlain());
    expect(
      (await login(plain, { scope: 'openid offline_access' })).tokens.refresh_token,
    ).toBeUndefined();
  });
});

describe('Auth0', () => {
  let idp: RunningDevIdp;
  let config: client.Configuration;
  beforeAll(async () => {
    idp = await startPersonality('auth0');
    config = await discover(idp);
  });

  it('has an issuer with a trailing slash, in discovery and in ID tokens', async () => {
    expect(idp.issuer()).toBe(`${idp.origin}/`);
    expect((await metadataOf(idp)).issuer).toBe(`${idp.origin}/`);
    const { tokens } = await login(config);
    expect(tokens.claims()?.iss).toBe(`${idp.origin}/`);
  });

  it('gives a JWT access token for the audience parameter, an opaque one without it', async () => {
    const opaque = (await login(config)).tokens.access_token;
    expect(opaque.split('.')).toHaveLength(1);

    const { tokens } = await login(config, { audience: AUDIENCE });
    const jwks = createRemoteJWKSet(new URL(`${idp.origin}/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, {
      issuer: `${idp.origin}/`,
      audience: AUDIENCE,
    });
    expect(payload.sub).toBe('alice');
  });
});

describe('Keycloak', () => {
  it('sends back-channel logout tokens typed JWT that carry sid', async () => {
    const received: string[] = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.writeHead(200).end();
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    try {
      const { port } = receiver.address() as AddressInfo;
      const idp = await startPersonality('keycloak', {
        backchannel_logout_uri: `http://127.0.0.1:${port}/backchannel`,
      });
      const issuer = idp.issuer(pathOf(idp));
      expect(issuer).toBe(`${idp.origin}/realms/acme`);
      expect((await metadataOf(idp)).backchannel_logout_session_supported).toBe(true);
      const { tokens } = await login(await discover(idp));
      const sid = tokens.claims()?.sid;
      expect(sid).toEqual(expect.any(String));

      const res = await fetch(`${idp.origin}/__control/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ realm: PERSONALITY_PATHS.keycloak, sub: 'alice', sid }),
      });
      expect(await res.json()).toMatchObject({ delivered: [CLIENT_ID] });
      expect(received).toHaveLength(1);
      const token = received[0] ?? '';
      expect(decodeProtectedHeader(token).typ).toBe('JWT');
      const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
      const { payload } = await jwtVerify(token, jwks, { issuer, audience: CLIENT_ID });
      expect(payload).toMatchObject({
        sub: 'alice',
        sid,
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      });
      expect(payload).not.toHaveProperty('nonce');
    } finally {
      receiver.close();
    }
  });
});

describe('Amazon Cognito', () => {
  let idp: RunningDevIdp;
  let config: client.Configuration;
  beforeAll(async () => {
    idp = await startPersonality('cognito');
    config = await discover(idp);
  });

  it('leaves end-session, PKCE methods and revocation out of discovery, yet enforces PKCE', async () => {
    const metadata = await metadataOf(idp);
    expect(metadata).not.toHaveProperty('end_session_endpoint');
    expect(metadata).not.toHaveProperty('code_challenge_methods_supported');
    expect(metadata).not.toHaveProperty('revocation_endpoint');
    expect(metadata).not.toHaveProperty('backchannel_logout_supported');
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 'st',
    });
    expect(await authorizationError(url)).toBe('invalid_request');
  });

  it('/logout redirects to a registered logout_uri and ends the session at the IdP', async () => {
    const { jar } = await login(config);
    // At the origin's root, like Cognito's hosted UI domain.
    const base = `${idp.origin}/logout`;
    const query = (logoutUri: string, clientId = CLIENT_ID) =>
      `${base}?${new URLSearchParams({ client_id: clientId, logout_uri: logoutUri }).toString()}`;

    const foreign = await jar(query('https://evil.example/'));
    expect(foreign.status).toBe(400);
    expect(foreign.headers.get('location')).toBeNull();
    expect((await jar(query(SIGNED_OUT, 'someone-else'))).status).toBe(400);

    // Still signed in at the IdP: a new authorization goes straight back with a code.
    const again = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile email',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'st',
    });
    const signedIn = await completeDevIdpLogin(jar, again.href, { login: 'x', password: 'x' });
    expect(new URL(signedIn).searchParams.get('code')).toEqual(expect.any(String));

    const out = await jar(query(SIGNED_OUT));
    expect(out.status).toBe(302);
    expect(out.headers.get('location')).toBe(SIGNED_OUT);
    // Signed out at the IdP: the same request now shows the login page (wrong password fails).
    await expect(
      completeDevIdpLogin(jar, again.href, { login: 'x', password: 'x' }),
    ).rejects.toThrow(/login failed \(HTTP 401\)/);
  });
});

describe('strict modern (PAR, private_key_jwt, DPoP)', () => {
  let idp: RunningDevIdp;
  let jwksServer: http.Server;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  beforeAll(async () => {
    keys = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'rp-1', alg: 'ES256', use: 'sig' };
    jwksServer = http.createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [jwk] }));
    });
    jwksServer.listen(0, '127.0.0.1');
    await once(jwksServer, 'listening');
    const { port } = jwksServer.address() as AddressInfo;
    idp = await startPersonality('strict-modern', {
      client_secret: undefined,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: `http://127.0.0.1:${port}/jwks`,
      dpop_bound_access_tokens: true,
    });
  });
  afterAll(() => {
    jwksServer?.close();
  });

  it('advertises PAR as required, private_key_jwt only and DPoP', async () => {
    const metadata = await metadataOf(idp);
    expect(metadata.require_pushed_authorization_requests).toBe(true);
    expect(metadata.pushed_authorization_request_endpoint).toEqual(expect.any(String));
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(['private_key_jwt']);
    expect(metadata.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
  });

  it('refuses an authorization request that was not pushed, and a shared secret', async () => {
    const config = await discover(idp, client.PrivateKeyJwt(keys.privateKey));
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'st',
    });
    expect(await authorizationError(url)).toBe('invalid_request');

    const withSecret = await discover(idp, client.ClientSecretBasic('guess'));
    await expect(
      client.buildAuthorizationUrlWithPAR(withSecret, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid',
      }),
    ).rejects.toMatchObject({
      status: 401,
      cause: [{ parameters: { error: 'invalid_client' } }],
    });
  });

  it('signs in through PAR with private_key_jwt and binds the tokens to the DPoP key', async () => {
    const config = await discover(idp, client.PrivateKeyJwt(keys.privateKey));
    const dpopKeys = await client.randomDPoPKeyPair('ES256');
    const DPoP = client.getDPoPHandle(config, dpopKeys);
    const verifier = client.randomPKCECodeVerifier();
    const url = await client.buildAuthorizationUrlWithPAR(
      config,
      {
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile email offline_access',
        prompt: 'consent',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'st',
      },
      { DPoP },
    );
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const callback = await completeDevIdpLogin(createCookieFetch(), url.href, {
      login: 'alice',
      password: 'alice',
    });
    const tokens = await client.authorizationCodeGrant(
      config,
      new URL(callback),
      { pkceCodeVerifier: verifier, expectedState: 'st' },
      undefined,
      { DPoP },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const jkt = (decodeJwt(tokens.access_token).cnf as { jkt?: string } | undefined)?.jkt;
    expect(jkt).toBe(await calculateThumbprint(dpopKeys.publicKey));

    const refreshed = await client.refreshTokenGrant(
      config,
      tokens.refresh_token ?? '',
      undefined,
      { DPoP },
    );
    expect(refreshed.token_type.toLowerCase()).toBe('dpop');
    // Refreshing still needs the client's key (private_key_jwt), not just the refresh token.
    const noKey = await discover(idp, client.None());
    await expect(
      client.refreshTokenGrant(noKey, refreshed.refresh_token ?? tokens.refresh_token ?? ''),
    ).rejects.toMatchObject({ error: 'invalid_client' });
  });
});

async function calculateThumbprint(key: JoseCryptoKey): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key));
}
