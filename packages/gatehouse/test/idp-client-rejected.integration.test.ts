import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin } from '@gatehouse/dev-idp';
import { createCookieFetch, startStack, type CookieFetch, type Stack } from '@gatehouse/testkit';
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

/**
 * An OP that refuses Gatehouse's client credentials at its token endpoint (RFC 6749 §5.2
 * `invalid_client`, with or without a `WWW-Authenticate` challenge) is not an outage: the answer
 * is `502 idp_client_rejected`, telling an admin to fix the provider, the access line says what
 * the IdP said, and a refresh refused that way keeps the user's session.
 */
describe('the IdP refuses the client credentials', () => {
  let stack: Stack;
  let idp: ScriptedIdp;
  const lines: AccessLine[] = [];
  /** How the scripted token endpoint answers the next grant. */
  let mode: 'ok' | 'invalid_client' | 'challenge' | 'bare-challenge' | 'invalid_client_400' = 'ok';
  const nonces = new Map<string, string>();

  beforeAll(async () => {
    idp = await startScriptedIdp({
      authorize: (params) => nonces.set('the-code', params.get('nonce') ?? ''),
      token(form, reply) {
        if (mode === 'invalid_client') {
          return reply(401, {
            error: 'invalid_client',
            error_description: `client authentication failed ${'y'.repeat(400)}`,
          });
        }
        if (mode === 'invalid_client_400') return reply(400, { error: 'invalid_client' });
        if (mode === 'challenge') {
          return reply(
            401,
            { error: 'invalid_client' },
            { 'www-authenticate': 'Basic realm="idp", error="invalid_client"' },
          );
        }
        if (mode === 'bare-challenge') {
          return reply(401, {}, { 'www-authenticate': 'Basic realm="idp"' });
        }
        const now = Math.floor(Date.now() / 1000);
        void idp
          .sign({
            iss: idp.issuer,
            aud: 'gatehouse',
            sub: 'carol',
            iat: now,
            exp: now + 300,
            nonce: nonces.get(form.get('code') ?? '') ?? '',
          })
          .then((id_token) =>
            reply(200, {
              access_token: `at-${Math.random()}`,
              token_type: 'Bearer',
              // Every API call refreshes first (skew 60 s).
              expires_in: 1,
              refresh_token: `rt-${Math.random()}`,
              id_token,
            }),
          );
      },
    });
    const { issuer } = idp;
    stack = await startStack({
      deps: { logger: createLogger('info', jsonLines(lines)) },
      configure: (input) =>
        withScriptedTenant(
          {
            ...input,
            // The dev IdP's tenant (acme) sends a client secret the dev IdP does not know (last test).
            tenants: (input.tenants ?? []).map((tenant) =>
              tenant.id === 'acme'
                ? {
                    ...tenant,
                    providers: tenant.providers?.map((provider) => ({
                      ...provider,
                      clientSecret: 'not-the-secret-the-idp-knows',
                    })),
                  }
                : tenant,
            ),
          },
          issuer,
          {
            id: 'scripted',
            name: 'Scripted',
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

  const lineOf = (requestId: string) => accessLineOf(lines, requestId);

  const callback = (http: CookieFetch, requestId: string) =>
    signInThroughScriptedIdp(
      http,
      stack.origin,
      { tenant: 'scripted', provider: 'fake' },
      requestId,
      { accept: 'text/html' },
    );

  it.each([
    ['a 401 invalid_client body', 'invalid_client' as const],
    ['a 400 invalid_client body', 'invalid_client_400' as const],
    ['a 401 with a WWW-Authenticate challenge naming invalid_client', 'challenge' as const],
    ['a bare 401 Basic challenge', 'bare-challenge' as const],
  ])('answers the callback with 502 idp_client_rejected on %s', async (_name, answer) => {
    mode = answer;
    const requestId = `rejected-${answer}`;
    const res = await callback(createCookieFetch(), requestId);
    expect(res.status).toBe(502);
    const page = await res.text();
    expect(page).toContain('idp_client_rejected');
    expect(page).toContain('an administrator must fix the provider');
    expect(page).not.toContain('try again');
    const line = await lineOf(requestId);
    expect(line.errorCode).toBe('idp_client_rejected');
    if (answer !== 'bare-challenge') expect(line.cause?.idpError).toBe('invalid_client');
    if (answer === 'invalid_client') {
      expect(line.cause?.idpStatus).toBe('401');
      expect(line.cause?.idpErrorDescription?.length).toBeLessThanOrEqual(201);
    }
    if (answer === 'challenge' || answer === 'bare-challenge') {
      expect(line.cause?.idpChallenge).toBe('basic');
    }
  });

  it('keeps the session when a refresh is refused that way, and says why', async () => {
    mode = 'ok';
    const http = createCookieFetch();
    expect((await callback(http, 'signed-in')).status).toBe(302);
    mode = 'invalid_client';
    const answer = await http(`${stack.origin}/api/echo`, {
      headers: { 'x-csrf': '1', 'x-request-id': 'refresh-rejected' },
    });
    expect(answer.status).toBe(502);
    expect(answer.headers.get('gatehouse-problem')).toBe('idp_client_rejected');
    expect((await lineOf('refresh-rejected')).cause?.idpError).toBe('invalid_client');
    // Not the user's fault: still signed in, and the next call works once the IdP agrees again.
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    mode = 'ok';
    expect((await http(`${stack.origin}/api/echo`, { headers: { 'x-csrf': '1' } })).status).toBe(
      200,
    );
  });

  it('says so for a real OP (the dev IdP) given a wrong client secret', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?tenant=acme`);
    const callbackUrl = await completeDevIdpLogin(http, start.headers.get('location') ?? '', {
      login: 'alice',
      password: 'alice',
    });
    const res = await http(callbackUrl, { headers: { 'x-request-id': 'dev-idp-rejected' } });
    expect(res.status).toBe(502);
    expect(res.headers.get('gatehouse-problem')).toBe('idp_client_rejected');
    const body = (await res.json()) as { code: string; detail: string };
    expect(body.code).toBe('idp_client_rejected');
    expect((await lineOf('dev-idp-rejected')).cause?.idpError).toBe('invalid_client');
  });
});
