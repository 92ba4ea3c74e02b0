import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieFetch, startStack, type Stack } from '@gatehouse/testkit';
import { startScriptedIdp, withScriptedTenant, type ScriptedIdp } from './support/scripted-idp.ts';
import { jsonLines } from './support/json-lines.ts';
import { createLogger } from '../src/index.ts';

interface LogFields {
  errorCode?: string;
  cause?: Record<string, string>;
}

/**
 * OIDC Core 12.2: an ID token returned by a refresh must name the same `iss` and `sub` as the
 * one the session started with. An IdP that answers a refresh with another subject's ID token
 * (a mix-up, or a hostile IdP) ends the session instead of carrying on with foreign tokens.
 */
describe('refresh with an ID token for another subject', () => {
  let stack: Stack;
  let idp: ScriptedIdp;
  /** Claims the next refresh's ID token gets on top of the original ones. */
  let refreshClaims: JWTPayload = {};
  let refreshes = 0;
  const lines: Array<{ req?: { id?: string }; res?: { statusCode?: number } } & LogFields> = [];

  const now = () => Math.floor(Date.now() / 1000);
  const idToken = (payload: JWTPayload) =>
    idp.sign({
      iss: idp.issuer,
      aud: 'gatehouse',
      sub: 'mallory',
      iat: now(),
      exp: now() + 300,
      ...payload,
    });

  beforeAll(async () => {
    const nonces = new Map<string, string>();
    idp = await startScriptedIdp({
      // Remember the nonce under a code; the test delivers the callback itself.
      authorize: (params) => nonces.set('the-code', params.get('nonce') ?? ''),
      token(form, reply) {
        const grant = form.get('grant_type');
        const issue = (id: Promise<string>) =>
          void id.then((id_token) =>
            // Access tokens live 1 s: every API call refreshes first (skew 60 s).
            reply(200, {
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
        reply(400, { error: 'invalid_grant' });
      },
    });
    const { issuer } = idp;

    stack = await startStack({
      metrics: true,
      deps: { logger: createLogger('info', jsonLines(lines)) },
      configure: (input) =>
        withScriptedTenant(
          input,
          issuer,
          {
            id: 'mixup',
            name: 'Mix-up',
            providers: [
              { id: 'fake', issuer, clientId: 'gatehouse', clientSecret: 'fake-client-secret' },
            ],
          },
          true,
        ),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await idp?.close();
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

  it.each<[string, JWTPayload]>([
    ['another issuer', { iss: 'http://localhost:1/elsewhere' }],
    ['another audience', { aud: 'someone-else' }],
    ['an audience list without Gatehouse', { aud: ['api', 'someone-else'] }],
  ])(
    'ends the session when the refreshed ID token names %s (openid-client refuses it)',
    async (_name, claims) => {
      refreshClaims = {};
      const http = await signedIn();
      refreshClaims = claims;
      const answer = await callApi(http);
      expect(answer.status).toBe(401);
      expect(answer.headers.get('gatehouse-problem')).toBe('session_expired');
      expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
    },
  );

  it('logs why the session ended on the access line, and counts it', async () => {
    refreshClaims = {};
    const http = await signedIn();
    refreshClaims = { sub: 'eve' };
    const answer = await http(`${stack.origin}/api/echo`, {
      headers: { 'x-csrf': '1', 'x-request-id': 'mixup-1' },
    });
    expect(answer.status).toBe(401);
    let line: { errorCode?: string; cause?: Record<string, string> } | undefined;
    await expect
      .poll(() => {
        line = lines.find((entry) => entry.req?.id === 'mixup-1' && entry.res?.statusCode);
        return line !== undefined;
      })
      .toBe(true);
    expect(line?.errorCode).toBe('session_expired');
    expect(line?.cause).toMatchObject({
      name: 'RefreshRefused',
      message: 'the refreshed ID token names another subject',
    });
    const scrape = await (await fetch(`${stack.gatehouses[0]?.metricsOrigin}/metrics`)).text();
    expect(scrape).toMatch(/gatehouse_refreshes_total\{outcome="subject_mismatch"\} [1-9]/);
    expect(scrape).toMatch(/gatehouse_sessions_ended_total\{reason="refresh_failure"\} [1-9]/);
  });
});
