import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { calculateJwkThumbprint, decodeJwt } from 'jose';
import { DEV_CLIENTS } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { DpopKeys, type DpopPrivateJwk } from '../src/oidc/dpop.ts';

/**
 * DPoP (RFC 9449) end to end against real processes: the dev IdP (oidc-provider, a client with
 * `dpop_bound_access_tokens` and nonces required), Gatehouse on Redis, and the demo API, which
 * verifies the bound access token and each call's proof.
 */
describe('DPoP-bound sessions', () => {
  let redis: RedisServer;
  let stack: Stack;
  let offsetMs = 0;
  const csrf = { 'x-csrf': '1' };
  const acmeDpop = { tenant: 'acme', provider: 'dpop' };

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      devIdp: { dpopNonces: true },
      deps: { clock: () => Date.now() + offsetMs },
      configure: (input) => ({
        ...input,
        trustProxy: '127.0.0.1',
        gateway: { enabled: true },
        tenants: input.tenants?.map((tenant) =>
          tenant.id === 'acme'
            ? {
                ...tenant,
                providers: [
                  ...(tenant.providers ?? []),
                  {
                    id: 'dpop',
                    issuer: tenant.providers?.[0]?.issuer ?? '',
                    clientId: DEV_CLIENTS.acmeDpop.clientId,
                    clientSecret: DEV_CLIENTS.acmeDpop.clientSecret,
                    authorizationParams: { prompt: 'consent' },
                    dpop: true,
                  },
                ],
              }
            : tenant,
        ),
        routes: [
          ...(input.routes ?? []),
          {
            prefix: '/api/demo-dpop',
            upstream: input.routes?.[0]?.upstream ?? '',
            tokenMode: 'user',
            dpop: true,
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const tokenCalls = () => stack.idp.tokenEndpointCalls('');

  async function signedIn(): Promise<CookieFetch> {
    const http = createCookieFetch();
    offsetMs = 0;
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' }, acmeDpop);
    return http;
  }

  /** The thumbprint of the session's DPoP key, from the sealed private key in its record. */
  async function sessionJkt(http: CookieFetch): Promise<string> {
    const { record } = await inspectSession(stack, http);
    expect(record.dpopKey).toEqual(expect.any(String));
    const jwk = await gatehouseInternals(stack.gatehouses[0]!.gatehouse).vault.open<DpopPrivateJwk>(
      record.dpopKey ?? '',
    );
    const { d: _private, ...publicJwk } = jwk;
    return calculateJwkThumbprint(publicJwk);
  }

  it('binds the code to the session key at login start and the tokens at the exchange, through a nonce round', async () => {
    const http = createCookieFetch();
    const start = await http(`${stack.origin}/bff/login?tenant=acme&provider=dpop`);
    expect(start.status).toBe(302);
    const authorizationUrl = new URL(start.headers.get('location') ?? '');
    expect(authorizationUrl.searchParams.get('dpop_jkt')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const before = tokenCalls();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' }, acmeDpop);
    // The IdP demands its nonce: the first exchange is refused with use_dpop_nonce and
    // openid-client retries once with it.
    expect(tokenCalls() - before).toBe(2);

    const jkt = await sessionJkt(http);
    const { tokens } = await inspectSession(stack, http);
    expect(decodeJwt(tokens.accessToken).cnf).toEqual({ jkt });
  });

  it('sends the bound token with a fresh proof that the demo API verifies', async () => {
    const http = await signedIn();
    const jkt = await sessionJkt(http);
    for (const path of ['/api/demo-dpop/me', '/api/demo-dpop/me?x=1']) {
      const res = await http(`${stack.origin}${path}`, { headers: csrf });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { sub: string; dpop?: { jkt: string } };
      expect(body.sub).toBe('alice');
      expect(body.dpop).toEqual({ jkt });
    }
    // Two calls, two proofs: a proof is never reused (the API would refuse the replay).
    const notes = await http(`${stack.origin}/api/demo-dpop/notes`, {
      method: 'POST',
      headers: { ...csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'bound' }),
    });
    expect(notes.status).toBe(201);
  });

  it('refuses to send a bound token as a Bearer token to a route without dpop', async () => {
    const http = await signedIn();
    const res = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
    expect(res.status).toBe(403);
    expect(res.headers.get('gatehouse-problem')).toBe('dpop_not_accepted');
    expect(((await res.json()) as { code: string }).code).toBe('dpop_not_accepted');
  });

  it('refuses a bound token to gateway mode and to WebSocket upgrades, which carry no proof', async () => {
    const http = await signedIn();
    const gateway = await http(`${stack.origin}/bff/authz?route=demo`, {
      headers: { 'x-original-method': 'GET', 'x-original-uri': '/backend/me' },
    });
    expect(gateway.status).toBe(403);
    expect(gateway.headers.get('gatehouse-problem')).toBe('dpop_not_accepted');
    expect(gateway.headers.get('authorization')).toBeNull();

    const cookie = await http.jar.getCookieString(stack.origin);
    const upgrade = await new Promise<{ status: number; code: string | undefined }>(
      (resolve, reject) => {
        const ws = new WebSocket(`${stack.origin.replace(/^http/, 'ws')}/api/demo/ws/echo`, {
          headers: { cookie, origin: stack.gatehouses[0]!.publicOrigin },
        });
        ws.on('open', () => {
          ws.terminate();
          reject(new Error('the upgrade was accepted'));
        });
        ws.on('error', () => undefined);
        ws.on('unexpected-response', (_req, res) => {
          const code = res.headers['gatehouse-problem'];
          resolve({
            status: res.statusCode ?? 0,
            code: typeof code === 'string' ? code : undefined,
          });
          res.resume();
        });
      },
    );
    expect(upgrade).toEqual({ status: 403, code: 'dpop_not_accepted' });
  });

  it('keeps the binding across a refresh, through the IdP’s nonce', async () => {
    const http = await signedIn();
    const jkt = await sessionJkt(http);
    const { tokens: first } = await inspectSession(stack, http);

    offsetMs = 301_000;
    const before = stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0;
    const calls = tokenCalls();
    const res = await http(`${stack.origin}/api/demo-dpop/me`, { headers: csrf });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { dpop?: { jkt: string } }).dpop).toEqual({ jkt });
    expect(stack.idp.tokenEndpointCallsByGrantType('')['refresh_token'] ?? 0).toBeGreaterThan(
      before,
    );
    // The session's first refresh in this process: its handle has no nonce yet, the IdP asks for
    // one (two token requests).
    expect(tokenCalls() - calls).toBe(2);

    const { tokens: refreshed, record } = await inspectSession(stack, http);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
    expect(decodeJwt(refreshed.accessToken).cnf).toEqual({ jkt });
    expect(await sessionJkt(http)).toBe(jkt);
    expect(record.accessTokenExpiresAtMs).toBeGreaterThan(Date.now());
  });

  it('keeps the IdP’s nonce between a session’s refreshes: one token request per refresh after the first', async () => {
    const http = await signedIn();
    const jkt = await sessionJkt(http);
    const perRefresh: number[] = [];
    for (const offset of [301_000, 602_000, 903_000]) {
      offsetMs = offset;
      const before = tokenCalls();
      const res = await http(`${stack.origin}/api/demo-dpop/me`, { headers: csrf });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { dpop?: { jkt: string } }).dpop).toEqual({ jkt });
      perRefresh.push(tokenCalls() - before);
    }
    // The first refresh of the session in this process learns the nonce (use_dpop_nonce, then
    // the retry); the next ones send it at once, from the handle kept with the session's key
    // (only Gatehouse's clock moves: for the IdP the nonce is still fresh).
    expect(perRefresh).toEqual([2, 1, 1]);
  });

  it('gives every session its own key', async () => {
    const [one, two] = await Promise.all([signedIn(), signedIn()]);
    expect(await sessionJkt(one)).not.toBe(await sessionJkt(two));
  });

  it('keeps the whole session record under 4 KB', async () => {
    const http = await signedIn();
    const { sid } = await inspectSession(stack, http);
    const client = redis.client();
    try {
      const stored = await client.get(`gh:sess:${sid}`);
      expect(stored).toEqual(expect.any(String));
      // Measured: 3.7 KB with the dev IdP's JWT tokens, of which the sealed DPoP key is 335 bytes.
      expect(Buffer.byteLength(stored ?? '')).toBeLessThanOrEqual(4096);
    } finally {
      client.disconnect();
    }
  });

  describe('the demo API, called directly with the session’s token', () => {
    async function boundToken() {
      const http = await signedIn();
      const { record, tokens } = await inspectSession(stack, http);
      const keys = new DpopKeys(gatehouseInternals(stack.gatehouses[0]!.gatehouse).vault);
      return { token: tokens.accessToken, keys, sealed: record.dpopKey ?? '' };
    }

    it('refuses the bound token as a Bearer token', async () => {
      const { token } = await boundToken();
      const res = await fetch(`${stack.api.origin}/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('DPoP-bound token sent as Bearer');
    });

    it('refuses a replayed proof, a proof for another URL or method, and no proof', async () => {
      const { token, keys, sealed } = await boundToken();
      const me = new URL(`${stack.api.origin}/me`);
      const headers = await keys.requestHeaders(sealed, token, 'GET', me);
      expect(headers.authorization).toBe(`DPoP ${token}`);

      const first = await fetch(me, { headers: { ...headers } });
      expect(first.status).toBe(200);
      const replayed = await fetch(me, { headers: { ...headers } });
      expect(replayed.status).toBe(401);
      expect(replayed.headers.get('www-authenticate')).toContain('DPoP proof replayed');

      const elsewhere = await keys.requestHeaders(
        sealed,
        token,
        'GET',
        new URL(`${stack.api.origin}/notes`),
      );
      const wrongUrl = await fetch(me, { headers: { ...elsewhere } });
      expect(wrongUrl.headers.get('www-authenticate')).toContain('htu mismatch');

      const post = await keys.requestHeaders(sealed, token, 'POST', me);
      const wrongMethod = await fetch(me, { headers: { ...post } });
      expect(wrongMethod.headers.get('www-authenticate')).toContain('htm mismatch');

      const noProof = await fetch(me, { headers: { authorization: `DPoP ${token}` } });
      expect(noProof.status).toBe(401);
      expect(noProof.headers.get('www-authenticate')).toContain('DPoP proof required');
    });
  });
});
