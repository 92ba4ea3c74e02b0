/**
 * The whole stack for the Playwright suites, in its own Node process (Node runs our TypeScript
 * natively; Playwright's loader never sees it): a real redis-server, the dev IdP, the demo API
 * and Gatehouse serving the built SPA. Prints one JSON line with the URLs, then runs until
 * SIGTERM. A small control server lets tests read the tokens Gatehouse holds, to assert that
 * none of them ever reached the browser, and freeze Redis (SIGSTOP) for an outage and let it go
 * on (`/redis/pause`, `/redis/resume`; the suite runs one test at a time).
 *
 * Beside them, a real third-party OpenID Provider: glewlwyd (Debian's package), with a demo API
 * of its own that trusts only glewlwyd's access tokens for one resource. `glewlwyd.spec.ts`
 * registers it as a provider of the tenant `lab` through the admin console; the stack allows its
 * loopback origin (`devIdpOrigins`) and adds the client Gatehouse will use at glewlwyd.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startDemoApi } from '@gatehouse/demo-api';
import { freePort, startGlewlwyd, startRedisServer, startStack } from '@gatehouse/testkit';
import { gatehouseInternals, type TokenSet } from '@gatehouse/core/testing';

/** glewlwyd's `/api/<plugin>` path: the OIDC plugin instance the testkit creates. */
const GLEWLWYD_PLUGIN = 'oidc';
/** The tenant glewlwyd.spec.ts adds glewlwyd to, and the provider id it gives it. */
const GLEWLWYD_TENANT = 'lab';
const GLEWLWYD_PROVIDER = 'glewlwyd';
/** The private_key_jwt client admin-console.spec.ts registers as acme's provider `keys-sso`. */
const KEYS_REALM = '/keys';
const KEYS_CLIENT = 'gatehouse-acme-keys';
const KEYS_PROVIDER = 'keys-sso';

const redis = await startRedisServer();
// glewlwyd's port first: its issuer goes into the demo API's trust list and Gatehouse's config.
const glewlwydPort = await freePort();
const glewlwydApiPort = await freePort();
// The RFC 8707 resource the login asks glewlwyd for: its access tokens then carry it in `aud`.
const glewlwydResource = `http://localhost:${glewlwydApiPort}`;
const glewlwyd = await startGlewlwyd({
  port: glewlwydPort,
  pluginName: GLEWLWYD_PLUGIN,
  resources: [glewlwydResource],
});
const glewlwydApi = await startDemoApi({
  port: glewlwydApiPort,
  trustedIssuers: [
    { issuer: glewlwyd.issuer, jwksUri: `${glewlwyd.issuer}/jwks`, audience: glewlwydResource },
  ],
});
const stack = await startStack({
  redis,
  instances: 1,
  // ES256 ID and access tokens: a fifth of RS256's signing CPU on every sign-in's token request.
  devIdp: { controlApi: true, signingAlg: 'ES256' },
  // Apart from Gatehouse, as a real IdP is: neither waits on the other's event loop.
  devIdpProcess: true,
  // The tenant admin of `lab` signs in through the globex realm's client.
  extraCallbacks: [{ realm: '/globex', tenant: GLEWLWYD_TENANT, provider: 'dev' }],
  staticDir: resolve(import.meta.dirname, '../apps/web/dist'),
  // A dev IdP realm whose client authenticates with private_key_jwt (Gatehouse's JWKS URL for
  // the provider `keys-sso` of acme), for the console's signing keys panel.
  extraRealms: (origins) => [
    {
      path: KEYS_REALM,
      users: [],
      clients: [
        {
          client_id: KEYS_CLIENT,
          token_endpoint_auth_method: 'private_key_jwt',
          jwks_uri: `${origins[0] ?? ''}/bff/jwks/acme/${KEYS_PROVIDER}`,
          redirect_uris: origins.map((origin) => `${origin}/bff/callback/acme/${KEYS_PROVIDER}`),
        },
      ],
    },
  ],
  // A route only globex sessions may use (tenant isolation in the browser); the test controls
  // that @gatehouse/playwright's lifecycle fixtures call (development mode only).
  configure: (input) => ({
    ...input,
    testControls: true,
    devIdpOrigins: [...(input.devIdpOrigins ?? []), glewlwyd.origin],
    tenants: [
      ...(input.tenants ?? []),
      {
        id: GLEWLWYD_TENANT,
        name: 'Lab',
        providers: [
          {
            id: 'dev',
            displayName: 'Lab dev IdP',
            issuer: `${input.devIdpOrigins?.[0] ?? ''}/globex`,
            clientId: 'gatehouse-globex',
            clientSecret: 'dev-only-globex-secret',
            authorizationParams: { prompt: 'consent' },
          },
        ],
      },
    ],
    routes: [
      ...(input.routes ?? []),
      {
        prefix: '/api/globex-only',
        upstream: input.routes?.[0]?.upstream ?? '',
        tokenMode: 'gatehouse',
        audience: 'urn:gatehouse:demo-api',
        tenants: ['globex'],
      },
      // The user's own glewlwyd access token (refreshed by Gatehouse) to an API that trusts it.
      {
        prefix: '/api/glewlwyd-demo',
        upstream: glewlwydApi.origin,
        tokenMode: 'user',
        tenants: [GLEWLWYD_TENANT],
      },
    ],
  }),
});

// Gatehouse's URIs for the provider the spec registers, as a glewlwyd administrator enters them.
const glewlwydClient = {
  clientId: 'gatehouse-lab',
  // A `-` on purpose: glewlwyd's HTTP Basic decoding mis-handles it, client_secret_post does not.
  clientSecret: `lab-${randomBytes(18).toString('base64url')}`,
};
await glewlwyd.addClient({
  ...glewlwydClient,
  redirectUris: [`${stack.origin}/bff/callback/${GLEWLWYD_TENANT}/${GLEWLWYD_PROVIDER}`],
  postLogoutRedirectUris: [`${stack.origin}/`, `${stack.origin}/bff/signed-out`],
  backchannelLogoutUri: `${stack.origin}/bff/backchannel-logout/${GLEWLWYD_TENANT}/${GLEWLWYD_PROVIDER}`,
});

/**
 * `/age-login?state=…`: the login with this state as if it had been started eleven minutes ago
 * (its transaction gone, its note older than the transaction's ten minutes), so that a spec can
 * show the "sign-in expired" page without waiting.
 */
async function ageLogin(state: string): Promise<boolean> {
  const { transactions, vault } = gatehouseInternals(stack.gatehouses[0]!.gatehouse);
  const sealed = await transactions.get(`txnote:${state}`);
  if (!sealed) return false;
  const note = await vault.open<{ returnTo: string; startedAt: number }>(sealed);
  await transactions.delete(`tx:${state}`);
  const aged = { ...note, startedAt: note.startedAt - 11 * 60 * 1000 };
  await transactions.put(`txnote:${state}`, await vault.seal(aged), 60 * 60 * 1000);
  return true;
}

const control = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://control.invalid');
  if (url.pathname === '/redis/pause' || url.pathname === '/redis/resume') {
    if (url.pathname === '/redis/pause') redis.pause();
    else redis.resume();
    res.writeHead(204).end();
    return;
  }
  if (url.pathname === '/age-login') {
    ageLogin(url.searchParams.get('state') ?? '').then(
      (found) => res.writeHead(found ? 204 : 404).end(),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
    return;
  }
  if (req.url !== '/tokens') {
    res.writeHead(404).end();
    return;
  }
  void (async () => {
    const client = redis.client();
    try {
      const { vault } = gatehouseInternals(stack.gatehouses[0]!.gatehouse);
      const tokens: string[] = [];
      for (const key of await client.keys('gh:sess:*')) {
        const data = JSON.parse((await client.get(key)) ?? '{}') as { gh?: { tokens: string } };
        if (!data.gh) continue;
        const set = await vault.open<TokenSet>(data.gh.tokens);
        tokens.push(
          ...[set.accessToken, set.refreshToken, set.idToken].filter((t): t is string =>
            Boolean(t),
          ),
        );
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tokens }));
    } catch (error) {
      // A test helper must never take the whole stack down.
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    } finally {
      client.disconnect();
    }
  })();
});
await new Promise<void>((done) => control.listen(0, '127.0.0.1', done));

process.stdout.write(
  `${JSON.stringify({
    baseURL: stack.origin,
    idpOrigin: stack.idp.origin,
    controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
    glewlwyd: {
      origin: glewlwyd.origin,
      issuer: glewlwyd.issuer,
      tenant: GLEWLWYD_TENANT,
      provider: GLEWLWYD_PROVIDER,
      resource: glewlwydResource,
      ...glewlwydClient,
      username: glewlwyd.user.username,
      password: glewlwyd.user.password,
      name: glewlwyd.user.name,
    },
  })}\n`,
);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  control.close();
  await stack.close();
  await glewlwydApi.close();
  await glewlwyd.stop();
  await redis.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
