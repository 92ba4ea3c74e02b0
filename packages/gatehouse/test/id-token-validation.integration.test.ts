import { SignJWT, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieFetch, startStack, type Stack } from '@gatehouse/testkit';
import { startScriptedIdp, withScriptedTenant, type ScriptedIdp } from './support/scripted-idp.ts';

/**
 * A hostile identity provider: everything about it is correct except the ID token its token
 * endpoint returns. Gatehouse must refuse each forged or mismatched ID token (signature with
 * the JWKS, expected algorithm only, iss, aud/azp, exp, nonce, sub) and create no session.
 */
describe('ID token validation at the callback', () => {
  let stack: Stack;
  let idp: ScriptedIdp;
  let issuer: string;
  let otherKey: CryptoKey;
  let publicPem: string;
  /** What the next token request answers, by authorization code. */
  const forge = new Map<string, (nonce: string) => Promise<string>>();
  const nonces = new Map<string, string>();

  beforeAll(async () => {
    otherKey = (await generateKeyPair('RS256')).privateKey;
    idp = await startScriptedIdp({
      token(form, reply) {
        const code = form.get('code') ?? '';
        const make = forge.get(code);
        if (!make) return reply(400, { error: 'invalid_grant' });
        void make(nonces.get(code) ?? '').then((idToken) =>
          reply(200, {
            access_token: 'opaque-at',
            token_type: 'Bearer',
            expires_in: 300,
            id_token: idToken,
          }),
        );
      },
    });
    issuer = idp.issuer;
    publicPem = idp.publicPem;

    stack = await startStack({
      configure: (input) =>
        withScriptedTenant(input, issuer, {
          id: 'evil',
          name: 'Evil',
          providers: [
            { id: 'fake', issuer, clientId: 'gatehouse', clientSecret: 'fake-client-secret' },
          ],
        }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await idp?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (nonce: string, extra: JWTPayload = {}): JWTPayload => ({
    iss: issuer,
    aud: 'gatehouse',
    sub: 'mallory',
    iat: now(),
    exp: now() + 300,
    nonce,
    ...extra,
  });
  const rs256 = (payload: JWTPayload, key?: CryptoKey, kid?: string) => idp.sign(payload, key, kid);
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  /** Starts a login at the hostile IdP and delivers its callback with a forged ID token. */
  async function loginWith(make: (nonce: string) => Promise<string>) {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?tenant=evil&provider=fake`);
    const authorization = new URL(start.headers.get('location') ?? '');
    expect(authorization.origin).toBe(issuer);
    const code = `code-${Math.random()}`;
    forge.set(code, make);
    nonces.set(code, authorization.searchParams.get('nonce') ?? '');
    const callback = new URL(`/bff/callback/evil/fake`, stack.origin);
    callback.searchParams.set('code', code);
    callback.searchParams.set('state', authorization.searchParams.get('state') ?? '');
    const res = await http(callback.href);
    const user = await http(`${stack.origin}/bff/user`);
    return { status: res.status, body: await res.text(), signedIn: user.status === 200 };
  }

  it('accepts a correct ID token (the harness works)', async () => {
    const result = await loginWith((nonce) => rs256(claims(nonce)));
    expect(result.status).toBe(302);
    expect(result.signedIn).toBe(true);
  });

  const forgeries: Array<[string, (nonce: string) => Promise<string>]> = [
    ['alg none', (nonce) => Promise.resolve(`${b64({ alg: 'none' })}.${b64(claims(nonce))}.`)],
    [
      'HS256 keyed with the public key',
      (nonce) =>
        new SignJWT(claims(nonce))
          .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
          .sign(new TextEncoder().encode(publicPem)),
    ],
    ['a key not in the JWKS', (nonce) => rs256(claims(nonce), otherKey)],
    ['a key not in the JWKS under a known kid', (nonce) => rs256(claims(nonce), otherKey, 'k1')],
    ['another issuer', (nonce) => rs256(claims(nonce, { iss: 'https://other.example' }))],
    ['another audience', (nonce) => rs256(claims(nonce, { aud: 'someone-else' }))],
    [
      'several audiences and a foreign azp',
      (nonce) => rs256(claims(nonce, { aud: ['gatehouse', 'x'], azp: 'x' })),
    ],
    ['a wrong nonce', () => rs256(claims('not-the-nonce'))],
    ['no nonce', (nonce) => rs256(claims(nonce, { nonce: undefined }))],
    ['an expired token', (nonce) => rs256(claims(nonce, { iat: now() - 7200, exp: now() - 3600 }))],
    ['no sub', (nonce) => rs256(claims(nonce, { sub: undefined }))],
    [
      'a tampered payload',
      async (nonce) => {
        const [header, , signature] = (await rs256(claims(nonce))).split('.');
        return `${header}.${b64(claims(nonce, { sub: 'admin' }))}.${signature}`;
      },
    ],
  ];

  it.each(forgeries)('refuses %s and creates no session', async (_name, make) => {
    const result = await loginWith(make);
    expect(result.status).toBe(400);
    expect(result.body).toContain('login_failed');
    expect(result.signedIn).toBe(false);
  });
});
