import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin, defaultRealms, DEV_CLIENTS, startDevIdp } from '../src/index.ts';
import type { RunningDevIdp } from '../src/index.ts';
import { createCookieFetch, globexAuthorizationUrl, submitLogoutConfirmation } from './helpers.ts';

const GATEHOUSE = 'http://localhost:3999';

/** Collects back-channel logout POSTs the way an RP would receive them. */
async function startLogoutReceiver() {
  const logoutTokens: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}/bcl`,
    logoutTokens,
    close: () => new Promise((r) => server.close(r)),
  };
}

let idp: RunningDevIdp;
let receiver: Awaited<ReturnType<typeof startLogoutReceiver>>;

beforeAll(async () => {
  receiver = await startLogoutReceiver();
  const realms = defaultRealms({ gatehouseOrigin: GATEHOUSE });
  const globexClient = realms[1]?.clients[0];
  if (globexClient) globexClient.backchannel_logout_uri = receiver.url;
  // The second globex client (provider `sso`) would get its own logout token; this test follows one.
  const globexSsoClient = realms[1]?.clients[1];
  if (globexSsoClient) delete globexSsoClient.backchannel_logout_uri;
  realms[0]?.clients.push({
    client_id: 'public-spa',
    redirect_uris: [`${GATEHOUSE}/spa-callback`],
  });
  idp = await startDevIdp({ realms, controlApi: true });
});

afterAll(async () => {
  await idp.close();
  await receiver.close();
});

async function globexConfig() {
  return client.discovery(
    new URL(idp.issuer('/globex')),
    DEV_CLIENTS.globex.clientId,
    undefined,
    client.ClientSecretBasic(DEV_CLIENTS.globex.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
}

/** Follows the authorization redirect to the login page of the realm. */
async function openLoginPage(realmPath = '') {
  const jar = createCookieFetch();
  const auth = new URL(`${idp.issuer(realmPath)}/auth`);
  const clientId = realmPath ? DEV_CLIENTS.globex.clientId : DEV_CLIENTS.acme.clientId;
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const redirect = await jar(auth.href);
  const pageUrl = new URL(redirect.headers.get('location') ?? '', auth).href;
  const page = await jar(pageUrl);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? '';
  return { jar, pageUrl, page, html, action: new URL(action, idp.origin).href };
}

describe('several realms on one server', () => {
  it('serves the globex issuer with its own users: carol signs in, alice does not', async () => {
    const config = await globexConfig();
    expect(config.serverMetadata().issuer).toBe(`${idp.origin}/globex`);
    expect(config.serverMetadata().token_endpoint).toBe(`${idp.origin}/globex/token`);
    const verifier = client.randomPKCECodeVerifier();
    const url = globexAuthorizationUrl(
      config,
      await client.calculatePKCECodeChallenge(verifier),
      GATEHOUSE,
    );
    await expect(
      completeDevIdpLogin(createCookieFetch(), url, { login: 'alice', password: 'alice' }),
    ).rejects.toThrow('Invalid username or password');
    const rootCalls = idp.tokenEndpointCalls();
    const globexCalls = idp.tokenEndpointCalls('/globex');
    const callback = await completeDevIdpLogin(createCookieFetch(), url, {
      login: 'carol',
      password: 'carol',
    });
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: verifier,
      expectedState: client.skipStateCheck,
    });
    expect(tokens.claims()).toMatchObject({
      iss: `${idp.origin}/globex`,
      sub: 'carol',
      roles: ['gatehouse-admin'],
    });
    await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(idp.tokenEndpointCalls('/globex')).toBe(globexCalls + 2);
    expect(idp.tokenEndpointCalls()).toBe(rootCalls);
    expect(idp.tokenEndpointCallsByGrantType('/globex')).toMatchObject({
      authorization_code: 1,
      refresh_token: 1,
    });
  });

  it('RP-initiated logout sends a back-channel logout token carrying the session sid', async () => {
    const config = await globexConfig();
    const jar = createCookieFetch();
    const verifier = client.randomPKCECodeVerifier();
    const url = globexAuthorizationUrl(
      config,
      await client.calculatePKCECodeChallenge(verifier),
      GATEHOUSE,
    );
    const callback = await completeDevIdpLogin(jar, url, { login: 'dave', password: 'dave' });
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: verifier,
      expectedState: client.skipStateCheck,
    });
    const endSession = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token ?? '' });
    const before = receiver.logoutTokens.length;
    const { response } = await submitLogoutConfirmation(jar, endSession.href);
    expect(response.status).toBe(303);
    expect(receiver.logoutTokens.length).toBe(before + 1);
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer('/globex')}/jwks`));
    const { payload } = await jwtVerify(receiver.logoutTokens.at(-1) ?? '', jwks, {
      issuer: idp.issuer('/globex'),
    });
    expect(payload).toMatchObject({ sub: 'dave', sid: tokens.claims()?.['sid'] });
  });

  it('lets a public client (no secret) use code + PKCE with token_endpoint_auth_method none', async () => {
    const config = await client.discovery(
      new URL(idp.issuer()),
      'public-spa',
      undefined,
      client.None(),
      {
        execute: [client.allowInsecureRequests],
      },
    );
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${GATEHOUSE}/spa-callback`,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const callback = await completeDevIdpLogin(createCookieFetch(), url.href, {
      login: 'bob',
      password: 'bob',
    });
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: verifier,
      expectedState: client.skipStateCheck,
    });
    expect(tokens.claims()).toMatchObject({ sub: 'bob', email: 'bob@acme.test' });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('keeps interaction pages under the realm path', async () => {
    const { pageUrl, action } = await openLoginPage('/globex');
    expect(new URL(pageUrl).pathname).toMatch(/^\/globex\/auth\/[^/]+\/interaction$/);
    expect(new URL(action).pathname).toMatch(/^\/globex\/auth\/[^/]+\/interaction\/login$/);
  });
});

describe('login page', () => {
  it('loads nothing from other origins and forbids it by CSP', async () => {
    const { page, html } = await openLoginPage();
    const urls = html.match(/https?:\/\/[^\s"'<>)]+/g) ?? [];
    expect(urls.filter((u) => !u.startsWith(idp.origin))).toEqual([]);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(html).toContain('<label for="login">Username</label>');
    expect(html).toContain('<label for="password">Password</label>');
    expect(html).toContain('>Sign in</button>');
  });

  it('re-renders with an error on a bad password', async () => {
    const { jar, action } = await openLoginPage();
    const res = await jar(action, {
      method: 'POST',
      body: new URLSearchParams({ login: 'alice', password: 'nope' }),
    });
    expect(res.status).toBe(401);
    const html = await res.text();
    expect(html).toContain('Invalid username or password');
    expect(html).toContain('value="alice"');
  });

  it('escapes a hostile username in the error re-render', async () => {
    const { jar, action } = await openLoginPage();
    const hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
    const res = await jar(action, {
      method: 'POST',
      body: new URLSearchParams({ login: hostile, password: 'x' }),
    });
    const html = await res.text();
    expect(html).not.toContain('<script>alert(1)');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain(
      'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"',
    );
  });

  it('answers each step that ends the interaction with the resume itself, one round trip each', async () => {
    const { jar, action } = await openLoginPage();
    // alice has not consented: her login's resume opens the consent interaction straight away.
    const login = await jar(action, {
      method: 'POST',
      body: new URLSearchParams({ login: 'alice', password: 'alice' }),
    });
    expect(login.status).toBe(303);
    const consentPage = new URL(login.headers.get('location') ?? '', idp.origin);
    expect(consentPage.pathname).toMatch(/^\/auth\/[^/]+\/interaction$/);
    expect(consentPage.pathname).not.toBe(new URL(action).pathname.slice(0, -'/login'.length));
    expect(await (await jar(consentPage.href)).text()).toContain('confirm');
    // The confirm's resume issues the code: the redirect to the client with it.
    const confirm = await jar(`${consentPage.href}/confirm`, {
      method: 'POST',
      body: new URLSearchParams(),
    });
    expect(confirm.status).toBe(303);
    const callback = new URL(confirm.headers.get('location') ?? '');
    expect(`${callback.origin}${callback.pathname}`).toBe(`${GATEHOUSE}/bff/callback/acme/dev`);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('iss')).toBe(idp.issuer());
  });

  it('does not resume without the resume cookie, even after a right password', async () => {
    const auth = new URL(`${idp.issuer()}/auth`);
    auth.search = new URLSearchParams({
      client_id: DEV_CLIENTS.acme.clientId,
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    const started = await fetch(auth, { redirect: 'manual' });
    const page = new URL(started.headers.get('location') ?? '', idp.origin);
    // Every cookie but the resume cookie (and its signature).
    const cookies = started.headers
      .getSetCookie()
      .map((line) => line.split(';')[0] ?? '')
      .filter((pair) => !pair.startsWith('_interaction_resume'));
    expect(cookies.some((pair) => pair.startsWith('_interaction='))).toBe(true);
    const res = await fetch(`${page.href}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookies.join('; ') },
      body: new URLSearchParams({ login: 'alice', password: 'alice' }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('authorization request has expired');
  });

  it('answers 400 to a login post without an interaction cookie', async () => {
    const { action } = await openLoginPage();
    const res = await fetch(action, {
      method: 'POST',
      body: new URLSearchParams({ login: 'alice', password: 'alice' }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('interaction session id cookie not found');
  });
});

describe('control API', () => {
  it('reports token endpoint stats per realm', async () => {
    const res = await fetch(`${idp.origin}/__control/stats`);
    const body = (await res.json()) as { realms: Record<string, { tokenEndpointCalls: number }> };
    expect(Object.keys(body.realms).sort()).toEqual(['', '/globex']);
    expect(body.realms['/globex']?.tokenEndpointCalls).toBe(idp.tokenEndpointCalls('/globex'));
  });

  it('delays token endpoint answers and rejects a bad delay', async () => {
    const bad = await fetch(`${idp.origin}/__control/delay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: 'soon' }),
    });
    expect(bad.status).toBe(400);
    const set = (ms: number) =>
      fetch(`${idp.origin}/__control/delay`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ms }),
      });
    expect((await set(300)).status).toBe(200);
    const started = Date.now();
    const res = await fetch(`${idp.origin}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'x' }),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(res.status).toBe(400);
    await set(0);
  });

  it('sends a signed back-channel logout token to the realm clients', async () => {
    const res = await fetch(`${idp.origin}/__control/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ realm: '/globex', sub: 'carol', sid: 'sid-123' }),
    });
    expect(await res.json()).toEqual({ delivered: [DEV_CLIENTS.globex.clientId], failed: [] });
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer('/globex')}/jwks`));
    const { payload } = await jwtVerify(receiver.logoutTokens.at(-1) ?? '', jwks, {
      issuer: idp.issuer('/globex'),
      audience: DEV_CLIENTS.globex.clientId,
    });
    expect(payload).toMatchObject({ sub: 'carol', sid: 'sid-123' });
    expect(payload['events']).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
  });

  it('rejects back-channel logout requests for unknown realms or without sub', async () => {
    for (const body of [{ realm: '/nope', sub: 'carol' }, { realm: '/globex' }, 'not json']) {
      const res = await fetch(`${idp.origin}/__control/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      expect(res.status).toBe(400);
    }
  });

  it('is not there unless enabled', async () => {
    const plain = await startDevIdp();
    try {
      expect((await fetch(`${plain.origin}/__control/stats`)).status).toBe(404);
      const res = await fetch(`${plain.origin}/__control/delay`, {
        method: 'POST',
        body: '{"ms":1}',
      });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
