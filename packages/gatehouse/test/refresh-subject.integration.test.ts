import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieFetch, freePort, startStack, type Stack } from '@gatehouse/testkit';

/**
 * OIDC Core 12.2: an ID token returned by a refresh must name the same `iss` and `sub` as the
 * one the session started with. An IdP that answers a refresh with another subject's ID token
 * (a mix-up, or a hostile IdP) ends the session instead of carrying on with foreign tokens.
 */
describe('refresh with an ID token for another subject', () => {
  let stack: Stack;
  let idp: Server;
  let issuer: string;
  let key: CryptoKey;
  /** Claims the next refresh's ID token gets on top of the original ones. */
  let refreshClaims: JWTPayload = {};
  let refreshes = 0;

  const now = () => Math.floor(Date.now() / 1000);
  const idToken = (payload: JWTPayload) =>
    new SignJWT({
      iss: issuer,
      aud: 'gatehouse',
      sub: 'mallory',
      iat: now(),
      exp: now() + 300,
      ...payload,
    })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(key);

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const nonces = new Map<string, string>();

    idp = createServer((req, res) => {
      const url = new URL(req.url ?? '/', issuer);
      const json = (body: unknown) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (url.pathname === '/.well-known/openid-configuration') {
        return json({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
        });
      }
      if (url.pathname === '/jwks') return json({ keys: [jwk] });
      if (url.pathname === '/authorize') {
        // Remember the nonce under a code; the test delivers the callback itself.
        nonces.set('the-code', url.searchParams.get('nonce') ?? '');
        return res.writeHead(204).end();
      }
      if (url.pathname === '/token') {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          const form = new URLSearchParams(body);
          const grant = form.get('grant_type');
          const issue = (id: Promise<string>) =>
            void id.then((id_token) =>
              // Access tokens live 1 s: every API call refreshes first (skew 60 s).
              json({
                access_token: `at-${Math.random()}`,
                token_type: 'Bearer',
                expires_in: 1,
                refresh_token: `rt-${Math.random()}`,
                id_token,
              }),
            );
          if (grant === 'authorization_code') {
            return issue(idToken({ nonce: nonces.get(form.get('code') ?? '') ?? '' }));
          }
          if (grant === 'refresh_token') {
            refreshes += 1;
            return issue(idToken(refreshClaims));
          }
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end('{"error":"invalid_grant"}');
        });
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => idp.listen(port, '127.0.0.1', resolve));

    stack = await startStack({
      configure: (input) => ({
        ...input,
        devIdpOrigins: [...(input.devIdpOrigins ?? []), issuer],
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/echo',
            upstream: `${input.routes?.[0]?.upstream}/public/echo`,
            tokenMode: 'user',
          },
        ],
        tenants: [
          ...(input.tenants ?? []),
          {
            id: 'mixup',
            name: 'Mix-up',
            providers: [
              { id: 'fake', issuer, clientId: 'gatehouse', clientSecret: 'fake-client-secret' },
            ],
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    idp?.closeAllConnections();
    await new Promise((resolve) => idp?.close(resolve));
  });

  async function signedIn() {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?tenant=mixup&provider=fake`);
    const authorization = new URL(start.headers.get('location') ?? '');
    await fetch(authorization);
    const callback = new URL('/bff/callback/mixup/fake', stack.origin);
    callback.searchParams.set('code', 'the-code');
    callback.searchParams.set('state', authorization.searchParams.get('state') ?? '');
    expect((await http(callback.href)).status).toBe(302);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    return http;
  }
  const callApi = (http: ReturnType<typeof createCookieFetch>) =>
    http(`${stack.origin}/api/echo`, { headers: { 'x-csrf': '1' } });

  it('carries on when the refreshed ID token names the same subject (the harness works)', async () => {
    refreshClaims = {};
    const http = await signedIn();
    const before = refreshes;
    expect((await callApi(http)).status).toBe(200);
    expect(refreshes).toBe(before + 1);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
  });

  it('ends the session when the refreshed ID token names another subject', async () => {
    refreshClaims = {};
    const http = await signedIn();
    refreshClaims = { sub: 'eve' };
    const answer = await callApi(http);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('gatehouse-problem')).toBe('session_expired');
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
  });

  it('never uses tokens whose refreshed ID token names another issuer', async () => {
    refreshClaims = {};
    const http = await signedIn();
    refreshClaims = { iss: 'http://localhost:1/elsewhere' };
    // openid-client refuses the ID token itself: the call fails as an IdP fault and no
    // foreign token reaches the API.
    const answer = await callApi(http);
    expect(answer.status).toBe(502);
    expect(answer.headers.get('gatehouse-problem')).toBe('idp_unavailable');
  });
});
