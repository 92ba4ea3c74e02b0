import { Redis, type Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
  type ClusterTopology,
  type RedisServer,
  type RedisTopology,
} from '@gatehouse/testkit';
import type { StoredApiKey, StoredProvider, StoredTenant } from '../src/tenants/model.ts';
import type { StoredClientKeySet } from '../src/tenants/client-key-model.ts';
import { RedisRegistryStore } from '../src/tenants/redis-registry-store.ts';
import { withProviderDefaults } from '../src/tenants/provider-schema.ts';
import { MemoryRegistryStore, type RegistryStore } from '../src/tenants/registry-store.ts';

/**
 * One contract, two implementations of the dynamic tenant registry store. `store` and `peer`
 * share data: for Redis they are two stores on two connections (two Gatehouse instances), for
 * memory the same object (memory mode is one process).
 */
let redisServer: RedisServer;
const topologies = new Map<string, RedisTopology>();
const clients: Array<Redis | Cluster> = [];

beforeAll(async () => {
  const [server, sentinel, cluster] = await Promise.all([
    startRedisServer(),
    startRedisSentinel(),
    startRedisCluster(),
  ]);
  redisServer = server;
  topologies.set('redis', server).set('redis sentinel', sentinel).set('redis cluster', cluster);
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all([...topologies.values()].map((topology) => topology.stop()));
});

interface Harness {
  store: RegistryStore;
  peer: RegistryStore;
  /** Resolves once a new subscription is live (Redis: its first `ready` notification). */
  subscribed(store: RegistryStore, calls: () => number): Promise<void>;
  close(): Promise<void>;
}

let prefixCounter = 0;

const harnesses: Array<[string, () => Harness]> = [
  [
    'memory',
    () => {
      const store = new MemoryRegistryStore();
      return { store, peer: store, subscribed: async () => undefined, close: () => store.close() };
    },
  ],
  ...['redis', 'redis sentinel', 'redis cluster'].map((name): [string, () => Harness] => [
    name,
    () => {
      const prefix = `t${++prefixCounter}:`;
      const topology = topologies.get(name);
      if (!topology) throw new Error(`${name} did not start`);
      const [a, b] = [topology.client(), topology.client()];
      clients.push(a, b);
      const store = new RedisRegistryStore(a, { prefix });
      const peer = new RedisRegistryStore(b, { prefix });
      return {
        store,
        peer,
        subscribed: (_store, calls) => waitUntil(() => calls() >= 1),
        close: async () => {
          await store.close();
          await peer.close();
        },
      };
    },
  ]),
];

async function waitUntil(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function tenant(id: string, overrides: Partial<StoredTenant> = {}): StoredTenant {
  return {
    id,
    name: id.toUpperCase(),
    emailDomains: [`${id}.example`],
    hosts: [],
    adminRule: { claim: 'roles', value: 'gatehouse-admin' },
    revision: 1,
    createdAt: 1000,
    updatedAt: 1000,
    ...overrides,
  };
}

function provider(tenantId: string, id: string, overrides: Partial<StoredProvider> = {}) {
  const stored: StoredProvider = {
    id,
    tenant: tenantId,
    displayName: id,
    issuer: `https://${id}.idp.example`,
    clientId: `${tenantId}-${id}`,
    sealedClientSecret: 'eyJ.sealed',
    ...withProviderDefaults({}),
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: ['openid', 'email'],
    authorizationParams: { prompt: 'login' },
    enabled: true,
    revision: 1,
    createdAt: 1000,
    updatedAt: 1000,
    ...overrides,
  };
  return stored;
}

function clientKeys(
  tenantId: string,
  providerId: string,
  revision: number,
  kid: string,
): StoredClientKeySet {
  return {
    tenant: tenantId,
    provider: providerId,
    revision,
    keys: [
      {
        kid,
        alg: 'ES256',
        publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid },
        sealedPrivateJwk: 'eyJ.sealed',
        createdAt: 1000,
        activatesAt: 1000,
      },
    ],
  };
}

function apiKey(tenantId: string, id: string): StoredApiKey {
  return { id, tenant: tenantId, secretHash: `hash-${id}`, label: 'ci', createdAt: 1000 };
}

describe.each(harnesses)('registry store contract: %s', (_name, makeHarness) => {
  let h: Harness;
  beforeEach(() => {
    h = makeHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('starts empty and returns what was created, to every instance', async () => {
    expect(await h.store.snapshot()).toEqual({ tenants: [], providers: [] });
    expect(await h.store.createTenant(tenant('acme'))).toBe('ok');
    expect(await h.store.createProvider(provider('acme', 'okta'), { requireTenant: true })).toBe(
      'ok',
    );
    expect(await h.peer.getTenant('acme')).toEqual(tenant('acme'));
    expect(await h.peer.getProvider('acme', 'okta')).toEqual(provider('acme', 'okta'));
    expect(await h.peer.snapshot()).toEqual({
      tenants: [tenant('acme')],
      providers: [provider('acme', 'okta')],
    });
    expect(await h.peer.getTenant('nope')).toBeUndefined();
    expect(await h.peer.getProvider('acme', 'nope')).toBeUndefined();
  });

  it('never overwrites on create', async () => {
    await h.store.createTenant(tenant('acme'));
    expect(await h.peer.createTenant(tenant('acme', { name: 'Other' }))).toBe('exists');
    expect((await h.store.getTenant('acme'))?.name).toBe('ACME');
    await h.store.createProvider(provider('acme', 'okta'), { requireTenant: true });
    const again = provider('acme', 'okta', { clientId: 'hijack' });
    expect(await h.peer.createProvider(again, { requireTenant: true })).toBe('exists');
    expect((await h.store.getProvider('acme', 'okta'))?.clientId).toBe('acme-okta');
  });

  it('lets exactly one of many concurrent creates win', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? h.store : h.peer).createTenant(tenant('race', { name: `n${i}` })),
      ),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'exists')).toHaveLength(19);
  });

  it('hands out copies: changing a returned record changes nothing stored', async () => {
    await h.store.createTenant(tenant('acme'));
    const read = await h.store.getTenant('acme');
    read?.emailDomains.push('evil.example');
    const snapshot = await h.store.snapshot();
    snapshot.tenants[0]?.emailDomains.push('evil.example');
    expect((await h.peer.getTenant('acme'))?.emailDomains).toEqual(['acme.example']);
  });

  it('updates a tenant only from the revision it was read at', async () => {
    await h.store.createTenant(tenant('acme'));
    const next = tenant('acme', { name: 'Acme Corp', revision: 2 });
    expect(await h.store.updateTenant(next, 1)).toBe('ok');
    const stale = tenant('acme', { name: 'Stale', revision: 2 });
    expect(await h.peer.updateTenant(stale, 1)).toBe('conflict');
    expect((await h.peer.getTenant('acme'))?.name).toBe('Acme Corp');
    expect(await h.store.updateTenant(tenant('ghost', { revision: 2 }), 1)).toBe('missing');
    expect(await h.store.getTenant('ghost')).toBeUndefined();
  });

  it('updates a provider only from the revision it was read at', async () => {
    await h.store.createProvider(provider('acme', 'okta'), { requireTenant: false });
    const next = provider('acme', 'okta', { enabled: false, revision: 2 });
    expect(await h.store.updateProvider(next, 1)).toBe('ok');
    expect(await h.peer.updateProvider(provider('acme', 'okta', { revision: 2 }), 1)).toBe(
      'conflict',
    );
    expect((await h.peer.getProvider('acme', 'okta'))?.enabled).toBe(false);
    expect(await h.store.updateProvider(provider('acme', 'ghost', { revision: 2 }), 1)).toBe(
      'missing',
    );
  });

  it('creates children of a dynamic tenant only while it exists (config tenants opt out)', async () => {
    expect(await h.store.createProvider(provider('ghost', 'okta'), { requireTenant: true })).toBe(
      'missing',
    );
    expect(await h.store.createApiKey(apiKey('ghost', 'k1'), { requireTenant: true })).toBe(
      'missing',
    );
    expect(await h.store.snapshot()).toEqual({ tenants: [], providers: [] });
    expect(await h.store.getApiKey('k1')).toBeUndefined();
    // A config tenant lives in the config file, not in the store.
    expect(await h.store.createProvider(provider('static', 'sso'), { requireTenant: false })).toBe(
      'ok',
    );
    expect(await h.store.createApiKey(apiKey('static', 'k2'), { requireTenant: false })).toBe('ok');
  });

  it('deletes a provider once', async () => {
    await h.store.createProvider(provider('acme', 'okta'), { requireTenant: false });
    expect(await h.peer.deleteProvider('acme', 'okta')).toBe('ok');
    expect(await h.store.getProvider('acme', 'okta')).toBeUndefined();
    expect(await h.store.deleteProvider('acme', 'okta')).toBe('missing');
  });

  it('deletes a tenant with its providers and API keys, and nothing of other tenants', async () => {
    for (const id of ['acme', 'acme-two']) {
      await h.store.createTenant(tenant(id));
      await h.store.createProvider(provider(id, 'okta'), { requireTenant: true });
      await h.store.createProvider(provider(id, 'azure'), { requireTenant: true });
      await h.store.createApiKey(apiKey(id, `${id}-key`), { requireTenant: true });
    }
    expect(await h.peer.deleteTenant('acme')).toBe('ok');
    const snapshot = await h.store.snapshot();
    expect(snapshot.tenants.map((t) => t.id)).toEqual(['acme-two']);
    expect(snapshot.providers.map((p) => `${p.tenant}/${p.id}`).sort()).toEqual([
      'acme-two/azure',
      'acme-two/okta',
    ]);
    expect(await h.store.getApiKey('acme-key')).toBeUndefined();
    expect(await h.store.getApiKey('acme-two-key')).toEqual(apiKey('acme-two', 'acme-two-key'));
    expect(await h.store.deleteTenant('acme')).toBe('missing');
  });

  it('keeps API keys by id, lists them per tenant and deletes them only for their tenant', async () => {
    await h.store.createApiKey(apiKey('acme', 'a1'), { requireTenant: false });
    await h.store.createApiKey(apiKey('acme', 'a2'), { requireTenant: false });
    await h.store.createApiKey(apiKey('globex', 'g1'), { requireTenant: false });
    expect(await h.store.createApiKey(apiKey('globex', 'a1'), { requireTenant: false })).toBe(
      'exists',
    );
    expect(await h.peer.getApiKey('a1')).toEqual(apiKey('acme', 'a1'));
    const listed = await h.peer.listApiKeys('acme');
    expect(listed.map((k) => k.id).sort()).toEqual(['a1', 'a2']);
    expect(await h.peer.listApiKeys('nobody')).toEqual([]);
    expect(await h.store.deleteApiKey('globex', 'a1')).toBe('missing');
    expect(await h.store.getApiKey('a1')).toBeDefined();
    expect(await h.store.deleteApiKey('acme', 'a1')).toBe('ok');
    expect(await h.store.getApiKey('a1')).toBeUndefined();
    expect(await h.store.deleteApiKey('acme', 'a1')).toBe('missing');
  });

  it('keeps client signing keys per provider with a compare-and-set, and announces writes', async () => {
    let calls = 0;
    const unsubscribe = h.peer.subscribe(() => calls++);
    await h.subscribed(h.peer, () => calls);
    expect(await h.peer.getClientKeys('acme', 'okta')).toBeUndefined();
    // Revision 0 is "none stored yet": of two first writers, one wins.
    const first = clientKeys('acme', 'okta', 1, 'k1');
    const before = calls;
    expect(await h.store.putClientKeys(first, 0)).toBe('ok');
    await waitUntil(() => calls > before);
    expect(await h.peer.putClientKeys(clientKeys('acme', 'okta', 1, 'other'), 0)).toBe('conflict');
    expect(await h.peer.getClientKeys('acme', 'okta')).toEqual(first);
    expect(await h.peer.putClientKeys(clientKeys('acme', 'okta', 2, 'k2'), 5)).toBe('conflict');
    expect(await h.peer.putClientKeys(clientKeys('acme', 'okta', 2, 'k2'), 1)).toBe('ok');
    expect((await h.store.getClientKeys('acme', 'okta'))?.keys[0]?.kid).toBe('k2');
    // Another provider's keys are its own.
    expect(await h.store.getClientKeys('acme', 'azure')).toBeUndefined();
    unsubscribe();
  });

  it('deletes client signing keys with their provider and with their tenant', async () => {
    for (const id of ['acme', 'acme-two']) {
      await h.store.createTenant(tenant(id));
      await h.store.createProvider(provider(id, 'okta'), { requireTenant: true });
      await h.store.putClientKeys(clientKeys(id, 'okta', 1, `${id}-k`), 0);
    }
    await h.store.createProvider(provider('acme', 'azure'), { requireTenant: true });
    await h.store.putClientKeys(clientKeys('acme', 'azure', 1, 'azure-k'), 0);
    expect(await h.peer.deleteProvider('acme', 'azure')).toBe('ok');
    expect(await h.store.getClientKeys('acme', 'azure')).toBeUndefined();
    expect(await h.peer.deleteTenant('acme')).toBe('ok');
    expect(await h.store.getClientKeys('acme', 'okta')).toBeUndefined();
    expect((await h.store.getClientKeys('acme-two', 'okta'))?.keys[0]?.kid).toBe('acme-two-k');
  });

  it('tells every subscriber about tenant and provider changes, until unsubscribed', async () => {
    let calls = 0;
    const unsubscribe = h.peer.subscribe(() => calls++);
    await h.subscribed(h.peer, () => calls);
    const writes: Array<() => Promise<unknown>> = [
      () => h.store.createTenant(tenant('acme')),
      () => h.store.updateTenant(tenant('acme', { revision: 2 }), 1),
      () => h.store.createProvider(provider('acme', 'okta'), { requireTenant: true }),
      () => h.store.updateProvider(provider('acme', 'okta', { revision: 2 }), 1),
      () => h.store.deleteProvider('acme', 'okta'),
      () => h.store.deleteTenant('acme'),
    ];
    for (const write of writes) {
      const before = calls;
      await write();
      await waitUntil(() => calls > before);
    }
    // A write that changes nothing announces nothing.
    const quiet = calls;
    expect(await h.store.deleteTenant('acme')).toBe('missing');
    expect(await h.store.updateProvider(provider('acme', 'x', { revision: 2 }), 1)).toBe('missing');

    unsubscribe();
    await h.store.createTenant(tenant('later'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toBe(quiet);
  });
});

describe('redis registry store specifics', () => {
  it('keeps every key in one Cluster slot and skips records it cannot parse', async () => {
    const client = redisServer.client();
    clients.push(client);
    const store = new RedisRegistryStore(client, { prefix: 'slot:' });
    await store.createTenant(tenant('acme'));
    await store.createProvider(provider('acme', 'okta'), { requireTenant: true });
    await store.createApiKey(apiKey('acme', 'k1'), { requireTenant: true });
    const keys = await client.keys('slot:*');
    expect(keys.sort()).toEqual([
      'slot:{registry}:apikeys',
      'slot:{registry}:providers',
      'slot:{registry}:tenants',
    ]);
    await client.hset('slot:{registry}:tenants', 'broken', '{not json');
    await client.hset('slot:{registry}:providers', 'acme/odd', JSON.stringify({ id: 'odd' }));
    const snapshot = await store.snapshot();
    expect(snapshot.tenants.map((t) => t.id)).toEqual(['acme']);
    expect(snapshot.providers.map((p) => p.id)).toEqual(['okta']);
    expect(await store.getTenant('broken')).toBeUndefined();
    await store.close();
  });
});

describe('redis registry store on a Cluster', () => {
  /** Ports of the nodes that have a subscribed client. */
  async function subscriberPorts(cluster: ClusterTopology): Promise<number[]> {
    const found: number[] = [];
    for (const port of cluster.nodePorts) {
      const node = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        retryStrategy: () => null,
      });
      node.on('error', () => undefined);
      try {
        await node.connect();
        const list = (await node.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
        if (list.trim()) found.push(port);
      } catch {
        // a dead node has no subscribers
      } finally {
        node.disconnect();
      }
    }
    return found;
  }

  // Last in this file: it kills a node of the shared Cluster.
  it('keeps announcing changes after the node its subscriber listens on dies', async () => {
    const cluster = topologies.get('redis cluster') as ClusterTopology;
    const [a, b] = [cluster.client(), cluster.client()];
    clients.push(a, b);
    const store = new RedisRegistryStore(a, { prefix: 'moving:' });
    const peer = new RedisRegistryStore(b, { prefix: 'moving:' });
    let calls = 0;
    peer.subscribe(() => calls++);
    await waitUntil(() => calls >= 1);
    const [port, ...others] = await subscriberPorts(cluster);
    expect(others).toEqual([]);

    await cluster.killNode(port ?? 0);
    // Resubscribed elsewhere: that is announced as a change (announcements meanwhile are lost).
    await waitUntil(() => calls >= 2, 10_000);
    expect(await subscriberPorts(cluster)).not.toContain(port);

    // And a write from another instance is announced again (once its slot is served again).
    const before = calls;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const written = await store.createTenant(tenant('after')).catch(() => undefined);
      if (written) break;
      if (Date.now() > deadline) throw new Error('the registry slot was never served again');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await waitUntil(() => calls > before, 5000);
    await store.close();
    await peer.close();
  }, 40_000);
});
