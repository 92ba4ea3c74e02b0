import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import {
  accessLineOf,
  signInThroughScriptedIdp,
  startScriptedIdp,
  withScriptedTenant,
  type AccessLine,
  type ScriptedIdp,
} from './support/scripted-idp.ts';
import { jsonLines } from './support/json-lines.ts';
import { createLogger } from '../src/index.ts';

type ParMode = 'ok' | 'no-request-uri' | 'huge-expires-in' | 'numeric-request-uri' | 'unavailable';
type TokenMode = 'ok' | 'nonce-loop' | 'mac' | 'no-access-token' | 'huge' | 'endless';

/**
 * An OP that misbehaves at its PAR and token endpoints in ways oidc-provider never does: a PAR
 * answer without a usable `request_uri`, a DPoP nonce demanded again and again. Each is the
 * IdP failing (502 `idp_unavailable`), never the user's sign-in being refused or a session
 * ended. Real Redis, two providers of one hand-made OP: one pushing every authorization
 * request, one binding tokens with DPoP.
 */
describe('an IdP misbehaving at its PAR and token endpoints', () => {
  let redis: RedisServer;
  let stack: Stack;
  let idp: ScriptedIdp;
  const lines: AccessLine[] = [];
  let parMode: ParMode = 'ok';
  let tokenMode: TokenMode = 'ok';
  let tokenCalls = 0;
  const nonces = new Map<string, string>();

  beforeAll(async () => {
    redis = await startRedisServer();
    idp = await startScriptedIdp({
      metadata: { dpop_signing_alg_values_supported: ['ES256'] },
      authorize: (params) => nonces.set('the-code', params.get('nonce') ?? ''),
      par(_form, reply) {
        switch (parMode) {
          case 'ok':
            return reply(201, {
              request_uri: 'urn:ietf:params:oauth:request_uri:x',
              expires_in: 60,
            });
          case 'no-request-uri':
            return reply(201, { expires_in: 60 });
          case 'huge-expires-in':
            return reply(201, {
              request_uri: 'urn:ietf:params:oauth:request_uri:y',
              expires_in: 1e300,
            });
          case 'numeric-request-uri':
            return reply(201, { request_uri: 42, expires_in: 60 });
          case 'unavailable':
            return reply(503, { error: 'temporarily_unavailable' });
        }
      },
      token(form, reply) {
        tokenCalls += 1;
        if (tokenMode === 'nonce-loop') {
          return reply(
            400,
            { error: 'use_dpop_nonce', error_description: 'use the nonce' },
            { 'dpop-nonce': `nonce-${tokenCalls}` },
          );
        }
        if (tokenMode === 'no-access-token')
          return reply(200, { token_type: 'DPoP', expires_in: 60 });
        if (tokenMode === 'huge')
          return reply(200, { access_token: 'x'.repeat(2 * 1024 * 1024), token_type: 'DPoP' });
        const now = Math.floor(Date.now() / 1000);
        void idp
          .sign({
            iss: idp.issuer,
            aud: 'gatehouse',
            sub: 'carol',
            iat: now,
            exp: now + 300,
            ...(form.get('grant_type') === 'authorization_code'
              ? { nonce: nonces.get(form.get('code') ?? '') ?? '' }
              : {}),
          })
          .then((id_token) =>
            reply(200, {
              access_token: `at-${Math.random()}`,
              token_type: tokenMode === 'mac' ? 'mac' : 'DPoP',
              // Every API call refreshes first (skew 60 s).
              // `endless`: lifetimes a number can hold but not once in milliseconds.
              ...(tokenMode === 'endless'
                ? { expires_in: 1e306, refresh_expires_in: 1e306 }
                : { expires_in: 1 }),
              refresh_token: `rt-${Math.random()}`,
              id_token,
            }),
          );
      },
    });
    const { issuer } = idp;
    stack = await startStack({
      redis,
      deps: { logger: createLogger('info', jsonLines(lines)) },
      configure: (input) =>
        withScriptedTenant(
          input,
          issuer,
          {
            id: 'hostile',
            name: 'Hostile',
            providers: [
              {
                id: 'par',
                issuer,
                clientId: 'gatehouse',
                clientSecret: 'hostile-client-secret',
                par: 'required',
              },
              {
                id: 'dpop',
                issuer,
                clientId: 'gatehouse',
                clientSecret: 'hostile-client-secret',
                par: 'off',
                dpop: true,
              },
            ],
          },
          { dpop: true },
        ),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await idp?.close();
    await redis?.stop();
  });

  const lineOf = (requestId: string) => accessLineOf(lines, requestId);

  const callback = (http: CookieFetch, requestId: string) =>
    signInThroughScriptedIdp(
      http,
      stack.origin,
      { tenant: 'hostile', provider: 'dpop' },
      requestId,
    );

  /** A sign-in start, its answer and its access line's problem code. */
  async function startPar(requestId: string): Promise<{ res: Response; line: AccessLine }> {
    const res = await createCookieFetch()(`${stack.origin}/bff/login?tenant=hostile&provider=par`, {
      headers: { 'x-request-id': requestId },
    });
    return { res, line: await lineOf(requestId) };
  }

  it.each([
    ['without a request_uri', 'no-request-uri' as const],
    ['with a request_uri that is not a string', 'numeric-request-uri' as const],
    ['with 503 temporarily_unavailable', 'unavailable' as const],
  ])('a PAR answer %s is the IdP failing: 502 idp_unavailable', async (_name, mode) => {
    parMode = mode;
    const { res, line } = await startPar(`par-${mode}`);
    expect(res.status).toBe(502);
    expect(res.headers.get('gatehouse-problem')).toBe('idp_unavailable');
    expect(res.headers.get('location')).toBeNull();
    expect(line.errorCode).toBe('idp_unavailable');
    parMode = 'ok';
  });

  it('a PAR answer with a huge expires_in still sends the browser on with its request_uri', async () => {
    parMode = 'huge-expires-in';
    const { res } = await startPar('par-huge-expires-in');
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') ?? '');
    expect(Object.fromEntries(location.searchParams)).toEqual({
      client_id: 'gatehouse',
      request_uri: 'urn:ietf:params:oauth:request_uri:y',
    });
    parMode = 'ok';
  });

  it('a nonce demanded again after the retry fails the sign-in as the IdP failing (502), after one retry', async () => {
    tokenMode = 'nonce-loop';
    const before = tokenCalls;
    const res = await callback(createCookieFetch(), 'nonce-loop-login');
    expect(res.status).toBe(502);
    expect(res.headers.get('gatehouse-problem')).toBe('idp_unavailable');
    expect(tokenCalls - before).toBe(2);
    expect((await lineOf('nonce-loop-login')).errorCode).toBe('idp_unavailable');
    tokenMode = 'ok';
  });

  it('an access token said to live longer than milliseconds can count is used, not refreshed at every call', async () => {
    tokenMode = 'endless';
    const http = createCookieFetch();
    expect((await callback(http, 'endless-login')).status).toBe(302);
    const before = tokenCalls;
    for (let call = 0; call < 3; call += 1) {
      const api = await http(`${stack.origin}/api/echo`, { headers: { 'x-csrf': '1' } });
      expect(api.status).toBe(200);
    }
    expect(tokenCalls - before).toBe(0);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    tokenMode = 'ok';
  });

  it('a nonce demanded again at a refresh answers 502 after one retry and keeps the session', async () => {
    tokenMode = 'ok';
    const http = createCookieFetch();
    expect((await callback(http, 'nonce-loop-refresh-login')).status).toBe(302);
    tokenMode = 'nonce-loop';
    const before = tokenCalls;
    const api = await http(`${stack.origin}/api/echo`, { headers: { 'x-csrf': '1' } });
    expect(api.status).toBe(502);
    expect(api.headers.get('gatehouse-problem')).toBe('idp_unavailable');
    expect(tokenCalls - before).toBe(2);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    tokenMode = 'ok';
    expect((await http(`${stack.origin}/api/echo`, { headers: { 'x-csrf': '1' } })).status).toBe(
      200,
    );
  });

  it.each([
    ['a token type other than DPoP or Bearer', 'mac' as const],
    ['no access token', 'no-access-token' as const],
    ['a body over the size limit', 'huge' as const],
  ])(
    'a refresh answered with %s fails the call (502) and keeps the session',
    async (_name, mode) => {
      tokenMode = 'ok';
      const http = createCookieFetch();
      expect((await callback(http, `refresh-${mode}-login`)).status).toBe(302);
      tokenMode = mode;
      const api = await http(`${stack.origin}/api/echo`, { headers: { 'x-csrf': '1' } });
      expect(api.status).toBe(502);
      expect(api.headers.get('gatehouse-problem')).toBe('idp_unavailable');
      expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
      tokenMode = 'ok';
    },
  );

  it('an oversized token answer at the code exchange is the IdP failing (502)', async () => {
    tokenMode = 'huge';
    const res = await callback(createCookieFetch(), 'login-huge');
    expect(res.status).toBe(502);
    expect(res.headers.get('gatehouse-problem')).toBe('idp_unavailable');
    tokenMode = 'ok';
  });
});
