import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importJWK, jwtVerify, SignJWT } from 'jose';
import { startRedisServer, type RedisServer } from '@gatehouse/testkit';
import { ClientKeys } from '../src/tenants/client-keys.ts';
import { RedisRegistryStore } from '../src/tenants/redis-registry-store.ts';
import { RetiredKeyError, Vault, type VaultKey } from '../src/session/vault.ts';

/**
 * The private_key_jwt signing keys move to a promoted encryption key as the client secrets do
 * (README, Key rotation): add the new key second, promote it (new first, old kept), re-seal,
 * then drop the old one — the keys still open and still sign. Real Redis; each "instance" is a
 * ClientKeys of its own over its own connection, as after a roll.
 */
const OLD: VaultKey = { kid: 'old', key: Buffer.alloc(32, 11).toString('base64url') };
const NEW: VaultKey = { kid: 'new', key: Buffer.alloc(32, 12).toString('base64url') };

let redis: RedisServer;
const connections: Redis[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const connection of connections) connection.disconnect();
  await redis?.stop();
});

function instance(keys: VaultKey[]): ClientKeys {
  const connection = redis.client();
  connections.push(connection);
  return new ClientKeys({
    store: new RedisRegistryStore(connection, { prefix: 'reseal:' }),
    vault: new Vault(keys),
    activationDelayMs: 0,
    overlapMs: 3_600_000,
  });
}

/** A client assertion signed with the provider's signing key, checked against its JWKS. */
async function signsVerifiably(keys: ClientKeys, tenant: string, provider: string) {
  const signing = await keys.signingKey(tenant, provider, () => 'ES256');
  const assertion = await new SignJWT({ sub: 'gatehouse' })
    .setProtectedHeader({ alg: 'ES256', kid: signing.kid })
    .setIssuedAt()
    .setAudience('https://op.example')
    .sign(signing.key);
  const published = (await keys.jwks(tenant, provider))?.keys.find((k) => k.kid === signing.kid);
  if (!published) throw new Error('signing key not published');
  await jwtVerify(assertion, await importJWK(published, 'ES256'), {
    audience: 'https://op.example',
  });
  return signing.kid;
}

const registry = (providers: Array<{ tenant: string; id: string }>) => ({
  tenants: async () => [...new Set(providers.map((p) => p.tenant))].map((id) => ({ id })),
  providers: async (tenant: string) => providers.filter((p) => p.tenant === tenant),
});

describe('re-sealing private_key_jwt signing keys after an encryption key rotation', () => {
  it('moves every key to the promoted encryption key, so the old one can be dropped', async () => {
    // Before the rotation: two providers with keys sealed under the old key (one rotated, so
    // it has two), and one provider without keys.
    const before = instance([OLD]);
    await before.ensure('acme', 'okta', () => 'ES256');
    await before.rotate('acme', 'okta', () => 'ES256');
    const oktaKid = await signsVerifiably(before, 'acme', 'okta');
    await before.ensure('globex', 'strict', () => 'ES256');
    const strictKid = await signsVerifiably(before, 'globex', 'strict');
    before.close();

    // Add: the new key second. Nothing is re-sealed under a key that is not current.
    const added = instance([OLD, NEW]);
    const all = registry([
      { tenant: 'acme', id: 'okta' },
      { tenant: 'acme', id: 'nokeys' },
      { tenant: 'globex', id: 'strict' },
    ]);
    expect(await added.resealAll(all)).toBe(0);
    added.close();

    // Promote: new first, old kept; re-seal moves all three keys, once.
    const promoted = instance([NEW, OLD]);
    expect(await promoted.resealAll(all)).toBe(3);
    expect(await promoted.resealAll(all)).toBe(0);
    promoted.close();

    // Retire: only the new key. The keys open and sign as before (same kids, same JWKS).
    const retired = instance([NEW]);
    expect(await signsVerifiably(retired, 'acme', 'okta')).toBe(oktaKid);
    expect(await signsVerifiably(retired, 'globex', 'strict')).toBe(strictKid);
    expect((await retired.list('acme', 'okta')).length).toBe(2);
    // The provider without keys got none from the re-seal.
    expect(await retired.list('acme', 'nokeys')).toEqual([]);
    retired.close();
  });

  it('without the re-seal, dropping the old encryption key loses the signing key', async () => {
    const before = instance([OLD]);
    await before.ensure('acme', 'forgotten', () => 'ES256');
    before.close();
    const retired = instance([NEW]);
    await expect(retired.signingKey('acme', 'forgotten', () => 'ES256')).rejects.toBeInstanceOf(
      RetiredKeyError,
    );
    retired.close();
  });

  it('leaves a key sealed for another provider as it is (it is never opened elsewhere)', async () => {
    const before = instance([OLD]);
    await before.ensure('acme', 'source', () => 'ES256');
    await before.ensure('acme', 'target', () => 'ES256');
    before.close();
    // Copy source's sealed private key onto target's set, as a store-level attacker might.
    const connection = redis.client();
    connections.push(connection);
    const store = new RedisRegistryStore(connection, { prefix: 'reseal:' });
    const source = await store.getClientKeys('acme', 'source');
    const target = await store.getClientKeys('acme', 'target');
    if (!source?.keys[0] || !target?.keys[0]) throw new Error('missing keys');
    const moved = { ...target.keys[0], sealedPrivateJwk: source.keys[0].sealedPrivateJwk };
    const tampered = { ...target, revision: target.revision + 1, keys: [moved] };
    expect(await store.putClientKeys(tampered, target.revision)).toBe('ok');

    const promoted = instance([NEW, OLD]);
    expect(await promoted.reseal([{ tenant: 'acme', id: 'target' }])).toBe(0);
    expect((await store.getClientKeys('acme', 'target'))?.keys[0]?.sealedPrivateJwk).toBe(
      source.keys[0].sealedPrivateJwk,
    );
    promoted.close();
  });
});
