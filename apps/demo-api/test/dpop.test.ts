import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTHeaderParameters, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoApi } from '../src/index.ts';
import { ReplayCache } from '../src/dpop.ts';
import { AUDIENCE, nowSeconds, startTestIssuer, unsignedToken } from './jwks-issuer.ts';
import type { TestIssuer } from './jwks-issuer.ts';

/**
 * The demo API's DPoP checks (RFC 9449 §4.3, §7.1), each with the hostile proof that breaks it.
 * Proofs are built by hand here on purpose: a library would refuse to make most of them.
 */
let issuer: TestIssuer;
let api: { origin: string; close(): Promise<void> };
let key: { privateKey: CryptoKey; jwk: JWK; jkt: string };
let token: string;

async function newKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

const ath = (value: string) => createHash('sha256').update(value).digest('base64url');

function proof(
  overrides: { payload?: JWTPayload; header?: Partial<JWTHeaderParameters> } = {},
  signer = key,
): Promise<string> {
  return new SignJWT({
    htm: 'GET',
    htu: `${api.origin}/me`,
    ath: ath(token),
    iat: nowSeconds(),
    jti: randomUUID(),
    ...overrides.payload,
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: signer.jwk, ...overrides.header })
    .sign(signer.privateKey);
}

async function callMe(dpop: string | string[] | undefined, authorization = `DPoP ${token}`) {
  const headers = new Headers({ authorization });
  for (const value of dpop === undefined ? [] : [dpop].flat()) headers.append('dpop', value);
  const res = await fetch(`${api.origin}/me?q=1`, { headers });
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', res };
}

beforeAll(async () => {
  issuer = await startTestIssuer('dpop-key');
  api = await startDemoApi({
    trustedIssuers: [{ issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: AUDIENCE }],
  });
  key = await newKey();
  token = await issuer.sign({ cnf: { jkt: key.jkt } });
});

afterAll(async () => {
  await api?.close();
  await issuer?.close();
});

describe('a DPoP-bound access token', () => {
  it('is accepted with a proof of this call (query aside) signed by its key', async () => {
    const { status, res } = await callMe(await proof());
    expect(status).toBe(200);
    expect(((await res.json()) as { dpop?: unknown }).dpop).toEqual({ jkt: key.jkt });
  });

  it('is refused as a Bearer token', async () => {
    const { status, challenge } = await callMe(undefined, `Bearer ${token}`);
    expect(status).toBe(401);
    expect(challenge).toContain('DPoP-bound token sent as Bearer');
  });

  it.each([
    ['no proof', () => Promise.resolve(undefined), 'DPoP proof required'],
    ['two proofs', async () => [await proof(), await proof()], 'exactly one DPoP proof required'],
    ['a huge proof', () => Promise.resolve('a'.repeat(5000)), 'DPoP proof too large'],
    ['garbage', () => Promise.resolve('not.a.jwt'), 'DPoP proof signature invalid'],
    [
      'alg none',
      () =>
        Promise.resolve(
          unsignedToken(
            { alg: 'none', typ: 'dpop+jwt', jwk: key.jwk },
            { htm: 'GET', htu: `${api.origin}/me`, ath: ath(token), iat: nowSeconds(), jti: 'x' },
          ),
        ),
      'DPoP proof',
    ],
    ['typ JWT', () => proof({ header: { typ: 'JWT' } }), 'DPoP proof signature invalid'],
    ['another key', async () => proof({}, await newKey()), 'DPoP proof key is not the token key'],
    [
      'a key that is not the signer',
      async () => proof({ header: { jwk: (await newKey()).jwk } }),
      'DPoP proof signature invalid',
    ],
    ['another method', () => proof({ payload: { htm: 'POST' } }), 'DPoP proof htm mismatch'],
    [
      'another URL',
      () => proof({ payload: { htu: `${api.origin}/notes` } }),
      'DPoP proof htu mismatch',
    ],
    [
      'another origin',
      () => proof({ payload: { htu: 'https://evil.example/me' } }),
      'DPoP proof htu mismatch',
    ],
    ['another token', () => proof({ payload: { ath: ath('other') } }), 'DPoP proof ath mismatch'],
    ['no ath', () => proof({ payload: { ath: undefined } }), 'DPoP proof ath mismatch'],
    [
      'an old iat',
      () => proof({ payload: { iat: nowSeconds() - 600 } }),
      'DPoP proof iat not recent',
    ],
    [
      'a future iat',
      () => proof({ payload: { iat: nowSeconds() + 600 } }),
      'DPoP proof iat not recent',
    ],
    ['no jti', () => proof({ payload: { jti: undefined } }), 'DPoP proof jti missing'],
  ])('is refused with %s', async (_name, make, description) => {
    const { status, challenge } = await callMe(await make());
    expect(status).toBe(401);
    expect(challenge).toMatch(/^DPoP realm="demo-api", error="invalid_dpop_proof"/);
    expect(challenge).toContain(description);
  });

  it('is refused with a replayed proof', async () => {
    const once = await proof();
    expect((await callMe(once)).status).toBe(200);
    const again = await callMe(once);
    expect(again.status).toBe(401);
    expect(again.challenge).toContain('DPoP proof replayed');
  });

  it('a token without cnf is not accepted under the DPoP scheme', async () => {
    const unbound = await issuer.sign();
    const res = await fetch(`${api.origin}/me`, {
      headers: { authorization: `DPoP ${unbound}`, dpop: await proof() },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('token is not DPoP-bound');
  });
});

describe('the replay cache', () => {
  it('forgets a jti once its proof could no longer pass, and stays bounded', () => {
    const cache = new ReplayCache(2);
    expect(cache.add('a', 100, 0)).toBe(true);
    expect(cache.add('a', 100, 50)).toBe(false);
    expect(cache.add('a', 200, 101)).toBe(true);
    expect(cache.add('b', 300, 101)).toBe(true);
    expect(cache.add('c', 300, 101)).toBe(true);
    // Full: the oldest entry went first.
    expect(cache.add('a', 300, 102)).toBe(true);
  });
});
