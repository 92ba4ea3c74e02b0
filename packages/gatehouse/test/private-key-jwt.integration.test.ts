import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader, importJWK, SignJWT, type JWK } from 'jose';
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
import type { ConfigInput } from '../src/index.ts';
import { ADMIN_TOKEN, withAdminToken } from './support/admin.ts';

/**
 * private_key_jwt and PAR against a real OP: the dev IdP (oidc-provider) with a realm that
 * requires pushed authorization requests and a client registered with Gatehouse's per-provider
 * JWKS URL as its `jwks_uri`. Two Gatehouse instances share one real Redis (the keys live
 * there, sealed); the clock is Gatehouse's own, moved forward to pass a new key's activation.
 */
const REALM = '/strict';
const CLIENT_ID = 'gatehouse-strict';
const ACTIVATION_SECONDS = 120;
const OVERLAP_SECONDS = 3600;
const csrf = { 'x-csrf': '1' };
const user = { login: 'erin', password: 'erin-password-0123' };

interface Jwks {
  keys: Array<JWK & { kid: string }>;
}
interface KeyList {
  jwksUri: string;
  keys: Array<{ kid: string; alg: string; signing: boolean; retiresAt: string | null }>;
}

describe('private_key_jwt and PAR with a real OP', () => {
  let redis: RedisServer;
  let stack: Stack;
  let offsetMs = 0;
  const clock = () => Date.now() + offsetMs;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      instances: 2,
      devIdp: { controlApi: true },
      deps: { clock },
      extraRealms: (origins) => [
        {
          path: REALM,
          requirePushedAuthorizationRequests: true,
          users: [{ id: 'erin', password: user.password, name: 'Erin', email: 'erin@strict.test' }],
          clients: [
            {
              client_id: CLIENT_ID,
              token_endpoint_auth_method: 'private_key_jwt',
              jwks_uri: `${origins[0]}/bff/jwks/strict/dev`,
              redirect_uris: origins.map((origin) => `${origin}/bff/callback/strict/dev`),
              post_logout_redirect_uris: origins.map((origin) => `${origin}/`),
            },
          ],
        },
      ],
      configure: (input): ConfigInput =>
        withAdminToken({
          ...input,
          testControls: true,
          clientKeys: {
            activationDelaySeconds: ACTIVATION_SECONDS,
            overlapSeconds: OVERLAP_SECONDS,
          },
          tenants: [
            ...(input.tenants ?? []),
            {
              id: 'strict',
              name: 'Strict',
              emailDomains: ['strict.test'],
              providers: [
                {
                  id: 'dev',
                  issuer: `${input.devIdpOrigins?.[0] ?? ''}${REALM}`,
                  clientId: CLIENT_ID,
                  tokenEndpointAuthMethod: 'private_key_jwt',
                  par: 'required',
                  authorizationParams: { prompt: 'consent' },
                },
              ],
            },
          ],
        }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  const jwksUrl = (origin = stack.origin) => `${origin}/bff/jwks/strict/dev`;
  const tokenCalls = (grant: string) => stack.idp.tokenEndpointCallsByGrantType(REALM)[grant] ?? 0;

  async function jwks(origin?: string): Promise<Jwks> {
    const res = await fetch(jwksUrl(origin));
    expect(res.status).toBe(200);
    return (await res.json()) as Jwks;
  }

  async function admin(method: string, path: string): Promise<Response> {
    return fetch(`${stack.origin}/admin/api/tenants/strict/providers/dev${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
  }

  async function opJwksCacheExpired(): Promise<void> {
    const res = await fetch(`${stack.idp.origin}/__control/clients/jwks-cache-expired`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ realm: REALM, clientId: CLIENT_ID }),
    });
    expect(res.status).toBe(204);
  }

  async function signedIn(origin = stack.origin): Promise<CookieFetch> {
    const http = createCookieFetch();
    await signIn(http, origin, user, { tenant: 'strict' });
    return http;
  }

  it('publishes the provider’s public keys (ES256, no private part) with cache headers', async () => {
    const res = await fetch(jwksUrl());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    const body = (await res.json()) as Jwks;
    expect(body.keys).toHaveLength(1);
    const [key] = body.keys;
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(key).not.toHaveProperty('d');
    // Every instance serves the same key: it lives in the shared store.
    expect(await jwks(stack.gatehouses[1]?.origin)).toEqual(body);
  });

  it('sends the browser to the OP with only client_id and request_uri (PAR)', async () => {
    const http = createCookieFetch();
    const res = await http(`${stack.origin}/bff/login?tenant=strict`);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${stack.idp.issuer(REALM)}/auth`);
    expect([...location.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(location.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });

  it('signs in (code + PKCE), calls the API, refreshes and revokes with client assertions', async () => {
    const codes = tokenCalls('authorization_code');
    const http = await signedIn();
    expect(tokenCalls('authorization_code')).toBe(codes + 1);
    const me = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { sub?: string }).sub).toBe('erin');

    // Refresh, on the other instance.
    const other = stack.gatehouses[1]?.origin ?? '';
    const refreshes = tokenCalls('refresh_token');
    const expire = await http(`${other}/bff/test-controls/expire-access-token`, {
      method: 'POST',
      headers: csrf,
    });
    expect(expire.status).toBe(200);
    expect((await http(`${other}/api/demo/me`, { headers: csrf })).status).toBe(200);
    expect(tokenCalls('refresh_token')).toBe(refreshes + 1);

    // Revocation at the OP's revocation endpoint authenticates the same way; the OP then
    // refuses the refresh token, and the session ends.
    const revoke = await http(`${stack.origin}/bff/test-controls/revoke-at-idp`, {
      method: 'POST',
      headers: csrf,
    });
    expect(revoke.status).toBe(200);
    expect(((await revoke.json()) as { revoked: string[] }).revoked).toContain('refresh_token');
    await http(`${stack.origin}/bff/test-controls/expire-access-token`, {
      method: 'POST',
      headers: csrf,
    });
    const after = await http(`${stack.origin}/api/demo/me`, { headers: csrf });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { code: string }).code).toBe('session_expired');
  });

  it('rotates with overlap: both keys published, the old signs until the new one activates, retired keys leave the JWKS', async () => {
    const [first] = (await jwks()).keys;
    if (!first) throw new Error('no key');

    const rotated = await admin('POST', '/keys/rotate');
    expect(rotated.status).toBe(201);
    const answer = (await rotated.json()) as KeyList & { rotated: { kid: string } };
    const second = answer.rotated.kid;
    expect(second).not.toBe(first.kid);
    expect(answer.jwksUri).toBe(jwksUrl(stack.gatehouses[0]?.publicOrigin));
    expect(answer.keys.map((key) => [key.kid, key.signing])).toEqual([
      [first.kid, true],
      [second, false],
    ]);
    expect(answer.keys[0]?.retiresAt).not.toBeNull();

    // Both published at once, on every instance (the change is announced through Redis).
    const both = [first.kid, second].sort();
    await expect
      .poll(async () => (await jwks(stack.gatehouses[1]?.origin)).keys.map((k) => k.kid).sort(), {
        timeout: 10_000,
      })
      .toEqual(both);
    expect((await jwks()).keys.map((k) => k.kid).sort()).toEqual(both);

    // Before activation the old key still signs: sign-in works on either instance.
    const before = await signedIn(stack.gatehouses[1]?.origin);
    expect((await inspectSession(stack, before)).record.tenant).toBe('strict');

    // Past the activation delay the new key signs. The OP's copy of the JWKS (fetched at an
    // earlier sign-in, before the rotation) has aged by then too: it fetches it again.
    offsetMs = (ACTIVATION_SECONDS + 1) * 1000;
    await opJwksCacheExpired();
    const list = (await (await admin('GET', '/keys')).json()) as KeyList;
    expect(list.keys.find((key) => key.signing)?.kid).toBe(second);
    await signedIn();
    await signedIn(stack.gatehouses[1]?.origin);
    // The old key is still published during the overlap.
    expect((await jwks()).keys.map((k) => k.kid).sort()).toEqual(both);

    // The signing key cannot be retired; the superseded one can, by hand.
    const inUse = await admin('DELETE', `/keys/${second}`);
    expect(inUse.status).toBe(409);
    expect(((await inUse.json()) as { code: string }).code).toBe('client_key_in_use');
    expect((await admin('DELETE', `/keys/${first.kid}`)).status).toBe(204);
    await expect
      .poll(async () => (await jwks(stack.gatehouses[1]?.origin)).keys.map((k) => k.kid), {
        timeout: 10_000,
      })
      .toEqual([second]);
    expect((await admin('DELETE', `/keys/${first.kid}`)).status).toBe(404);
    await signedIn();
  });

  it('retires a superseded key by itself once the overlap has passed', async () => {
    const [current] = (await jwks()).keys;
    const rotated = (await (await admin('POST', '/keys/rotate')).json()) as {
      rotated: { kid: string };
    };
    expect((await jwks()).keys.map((k) => k.kid).sort()).toEqual(
      [current?.kid, rotated.rotated.kid].sort(),
    );
    offsetMs += (ACTIVATION_SECONDS + OVERLAP_SECONDS + 1) * 1000;
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([rotated.rotated.kid]);
    expect((await jwks(stack.gatehouses[1]?.origin)).keys.map((k) => k.kid)).toEqual([
      rotated.rotated.kid,
    ]);
  });

  it('retiring a key that has not started signing never leaves the provider without a key', async () => {
    const [current] = (await jwks()).keys;
    if (!current) throw new Error('no key');
    const rotated = (await (await admin('POST', '/keys/rotate')).json()) as {
      rotated: { kid: string };
    };
    // The new key does not sign yet: retiring it would cancel the rotation, after which the
    // key that signs now must keep signing, not retire at the end of the cancelled overlap.
    expect((await admin('DELETE', `/keys/${rotated.rotated.kid}`)).status).toBe(204);
    const list = (await (await admin('GET', '/keys')).json()) as KeyList;
    expect(list.keys.map((key) => [key.kid, key.signing, key.retiresAt])).toEqual([
      [current.kid, true, null],
    ]);
    // Long after the rotation's activation and overlap: still a published key, still sign-ins.
    offsetMs += (ACTIVATION_SECONDS + OVERLAP_SECONDS + 1) * 1000;
    await opJwksCacheExpired();
    expect((await jwks()).keys.length).toBeGreaterThan(0);
    expect((await jwks(stack.gatehouses[1]?.origin)).keys.length).toBeGreaterThan(0);
    await signedIn();
    await signedIn(stack.gatehouses[1]?.origin);
  });

  it('the OP refuses a client assertion signed by a key Gatehouse never published', async () => {
    // A key of the right shape, unknown to the JWKS: the OP must not accept it.
    const { generateKeyPair, exportJWK } = await import('jose');
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const key = await importJWK(jwk, 'ES256');
    const issuer = stack.idp.issuer(REALM);
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'not-published' })
      .setIssuer(CLIENT_ID)
      .setSubject(CLIENT_ID)
      .setAudience(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key);
    expect(decodeProtectedHeader(assertion).kid).toBe('not-published');
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'dummy',
        redirect_uri: `${stack.origin}/bff/callback/strict/dev`,
        client_id: CLIENT_ID,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('answers 404 problems for unknown, non-private_key_jwt and hostile JWKS paths', async () => {
    const cases: Array<[string, string]> = [
      ['/bff/jwks/strict/nope', 'unknown_provider'],
      ['/bff/jwks/nope/dev', 'unknown_provider'],
      ['/bff/jwks/acme/dev', 'no_client_keys'],
      ['/bff/jwks/strict/..%2fdev', 'unknown_provider'],
      ['/bff/jwks/STRICT/dev', 'unknown_provider'],
      ['/bff/jwks/strict/dev%00', 'unknown_provider'],
      [`/bff/jwks/strict/${'a'.repeat(5000)}`, 'unknown_provider'],
      ['/bff/jwks/%E2%80%AEstrict/dev', 'unknown_provider'],
      ['/bff/jwks/__proto__/constructor', 'unknown_provider'],
    ];
    for (const [path, code] of cases) {
      const res = await fetch(`${stack.origin}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { code: string }).code, path).toBe(code);
    }
    const acmeKeys = await admin('GET', '/keys');
    expect(acmeKeys.status).toBe(200);
    const notKeyed = await fetch(`${stack.origin}/admin/api/tenants/acme/providers/dev/keys`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(notKeyed.status).toBe(404);
    expect(((await notKeyed.json()) as { code: string }).code).toBe('no_client_keys');
    const badKid = await admin('DELETE', '/keys/not..a..kid');
    expect(badKid.status).toBe(404);
    expect(((await badKid.json()) as { code: string }).code).toBe('unknown_client_key');
  });

  it('records rotations and retirements in the tenant’s audit trail', async () => {
    const res = await fetch(`${stack.origin}/admin/api/tenants/strict/audit?action=provider.`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const { events } = (await res.json()) as {
      events: Array<{ action: string; target?: string; outcome: string }>;
    };
    const actions = events.map((event) => `${event.action} ${event.outcome}`);
    expect(actions).toContain('provider.key-rotated success');
    expect(actions).toContain('provider.key-retired success');
    expect(actions).toContain('provider.key-retired failure');
    expect(
      events.every((event) => !event.target || /^(client-key|provider):/.test(event.target)),
    ).toBe(true);
  });
});
