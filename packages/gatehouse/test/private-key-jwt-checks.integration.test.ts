import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import {
  freePort,
  startRedisServer,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { startDevIdp, type RunningDevIdp } from '@gatehouse/dev-idp';
import { ADMIN_TOKEN, adminCall, withAdminToken, type Caller } from './support/admin.ts';
import { trustingDevIdps } from './support/scripted-idp.ts';

/**
 * The credentials check for private_key_jwt against an OP that accepts nothing else (the dev
 * IdP's strict-modern personality): Gatehouse signs the dummy-code grant's client assertion with
 * the provider's own key — made for the candidate before it is stored, and served at its JWKS
 * URL, so the OP can fetch it — and reads `invalid_grant` as accepted, `invalid_client` as "the
 * OP does not know our key", naming the JWKS URL to register. Real Redis, real OP.
 */
const operator: Caller = { name: 'operator', bearer: ADMIN_TOKEN };

let redis: RedisServer;
let stack: Stack;
let op: RunningDevIdp;

interface Check {
  name: string;
  ok: boolean;
  message: string;
  field: string | null;
}

beforeAll(async () => {
  redis = await startRedisServer();
  const port = await freePort();
  const opOrigin = `http://localhost:${port}`;
  stack = await startStack({
    redis,
    configure: (input) => trustingDevIdps(withAdminToken(input), opOrigin),
  });
  // A key Gatehouse never had: the "unknown" client's OP-side registration.
  const stranger = await generateKeyPair('ES256', { extractable: true });
  const strangerJwk = { ...(await exportJWK(stranger.publicKey)), kid: 'stranger', use: 'sig' };
  const client = (id: string, provider: string) => ({
    client_id: id,
    token_endpoint_auth_method: 'private_key_jwt' as const,
    redirect_uris: [`${stack.origin}/bff/callback/acme/${provider}`],
    dpop_bound_access_tokens: true,
  });
  op = await startDevIdp({
    port,
    realms: [
      {
        path: '',
        personality: 'strict-modern',
        users: [{ id: 'alice', password: 'alice', name: 'Alice', email: 'alice@acme.test' }],
        clients: [
          // Registered with Gatehouse's JWKS URL for the provider `strict`.
          { ...client('gatehouse-strict', 'strict'), jwks_uri: jwksUrl('strict') },
          // Registered with some other key: the OP cannot know Gatehouse's.
          { ...client('gatehouse-stranger', 'stranger'), jwks: { keys: [strangerJwk] } },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await op?.close();
  await stack?.close();
  await redis?.stop();
});

function jwksUrl(provider: string): string {
  return `${stack.origin}/bff/jwks/acme/${provider}`;
}

function body(id: string, clientId: string) {
  return {
    id,
    displayName: `Strict ${id}`,
    issuer: op.issuer(''),
    clientId,
    profile: 'strict-modern',
  };
}

function credentialsCheck(checks: unknown): Check {
  const found = (checks as Check[]).find((check) => check.name === 'credentials_rejected');
  if (!found) throw new Error('no credentials_rejected check');
  return found;
}

describe('the private_key_jwt credentials check', () => {
  it('passes when the OP accepts the assertion signed with the candidate’s key, before it is stored', async () => {
    // Nothing is published for a provider that does not exist and was never checked.
    expect((await fetch(jwksUrl('strict'))).status).toBe(404);

    const checked = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/provider-checks',
      body('strict', 'gatehouse-strict'),
    );
    expect(checked.status, checked.text).toBe(200);
    const credentials = credentialsCheck(checked.body.checks);
    expect(credentials).toMatchObject({ ok: true });
    expect(credentials.message).toContain('accepted the client credentials with private_key_jwt');
    expect(checked.body.ok).toBe(true);
    // The OP reached the grant handler: the assertion authenticated the client.
    expect(op.tokenEndpointCallsByGrantType('').authorization_code).toBe(1);

    // The candidate's key is what the OP fetched; the stored provider keeps it.
    const candidate = (await (await fetch(jwksUrl('strict'))).json()) as {
      keys: Array<{ kid: string; d?: string }>;
    };
    expect(candidate.keys).toHaveLength(1);
    expect(candidate.keys[0]?.d).toBeUndefined();
    const created = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/providers',
      body('strict', 'gatehouse-strict'),
    );
    expect(created.status, created.text).toBe(201);
    const keys = await adminCall(
      stack.origin,
      operator,
      'GET',
      '/tenants/acme/providers/strict/keys',
    );
    expect((keys.body.keys as Array<{ kid: string }>).map((key) => key.kid)).toEqual([
      candidate.keys[0]?.kid,
    ]);

    // And the stored provider's own test passes the same way.
    const tested = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/providers/strict/test',
    );
    expect(credentialsCheck(tested.body.checks).ok).toBe(true);
  });

  it('fails, naming the JWKS URL to register, when the OP does not know Gatehouse’s key', async () => {
    const checked = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/provider-checks',
      body('stranger', 'gatehouse-stranger'),
    );
    expect(checked.status, checked.text).toBe(200);
    expect(checked.body.ok).toBe(false);
    const credentials = credentialsCheck(checked.body.checks);
    expect(credentials).toMatchObject({ ok: false, field: 'tokenEndpointAuthMethod' });
    expect(credentials.message).toContain('does not accept Gatehouse');
    expect(credentials.message).toContain(`register ${jwksUrl('stranger')} as the client`);

    // Registration refuses it with that check named.
    const created = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/providers',
      body('stranger', 'gatehouse-stranger'),
    );
    expect(created.status).toBe(422);
    expect(created.body).toMatchObject({
      code: 'provider_check_failed',
      check: 'credentials_rejected',
    });
  });

  it('checks the candidate’s own PAR setting: "off" fails at an OP that requires PAR', async () => {
    const checked = await adminCall(
      stack.origin,
      operator,
      'POST',
      '/tenants/acme/provider-checks',
      { ...body('strict-par-off', 'gatehouse-strict'), par: 'off' },
    );
    expect(checked.status, checked.text).toBe(200);
    expect(checked.body.ok).toBe(false);
    const par = (checked.body.checks as Check[]).find((check) => check.name === 'par_mismatch');
    expect(par).toMatchObject({ ok: false, field: 'par' });
    expect(par?.message).toContain('requires pushed authorization requests');
  });

  it('serves no candidate keys for an unknown tenant or a hostile path', async () => {
    expect((await fetch(`${stack.origin}/bff/jwks/nobody/strict`)).status).toBe(404);
    expect((await fetch(`${stack.origin}/bff/jwks/acme/..%2Fstrict`)).status).toBe(404);
  });
});
