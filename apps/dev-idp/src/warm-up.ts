import { createHash, randomBytes } from 'node:crypto';
import { CompactSign, importJWK } from 'jose';
import type Provider from 'oidc-provider';
import { signingJwksOf } from './provider.ts';
import type { DevIdpRealm } from './realms.ts';

/** Each warm-up request gives up after this long: a start never hangs on it. */
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * The first-request work of each realm, done at start-up instead of in a test's first sign-in:
 * each of the realm's signing keys imported and used once (jose, which oidc-provider signs with), and over
 * HTTP to itself its discovery document, key set, an authorization request (PKCE, the realm's
 * first client) and the login page of the interaction it opens; with the control API, a user
 * request that the schema accepts and the realm lookup then refuses (nothing is created). The
 * interaction is left to expire. Every answer is ignored and every failure swallowed: this only
 * makes the first real requests cheaper.
 */
export async function warmUpRealms(
  origin: string,
  realms: ReadonlyArray<{ realm: DevIdpRealm; provider: Provider }>,
  controlApi: boolean,
): Promise<void> {
  const get = (url: string, cookie?: string) =>
    fetch(url, {
      redirect: 'manual',
      headers: cookie ? { cookie } : {},
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  const drain = async (response: Response) => {
    await response.arrayBuffer();
    return response;
  };
  const realmWork = async ({ realm, provider }: { realm: DevIdpRealm; provider: Provider }) => {
    for (const jwk of signingJwksOf(provider)) {
      const alg = String(jwk.alg);
      const key = await importJWK(
        JSON.parse(JSON.stringify(jwk)) as Parameters<typeof importJWK>[0],
        alg,
      );
      await new CompactSign(new TextEncoder().encode('{}'))
        .setProtectedHeader({ alg, kid: jwk.kid })
        .sign(key);
    }
    const base = `${origin}${realm.path}`;
    await drain(await get(`${base}/.well-known/openid-configuration`));
    await drain(await get(`${base}/jwks`));
    const client = realm.clients.find((c) => !c.resource_server && c.redirect_uris[0]);
    if (!client) return;
    const verifier = randomBytes(32).toString('base64url');
    const auth = new URL(`${base}/auth`);
    for (const [name, value] of Object.entries({
      client_id: client.client_id,
      redirect_uri: client.redirect_uris[0] ?? '',
      response_type: 'code',
      scope: 'openid',
      state: randomBytes(8).toString('base64url'),
      nonce: randomBytes(8).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })) {
      auth.searchParams.set(name, value);
    }
    const started = await drain(await get(auth.href));
    const location = started.headers.get('location');
    if (!location) return;
    const cookie = started.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .join('; ');
    await drain(await get(new URL(location, origin).href, cookie));
  };
  const work = realms.map((realm) => realmWork(realm).catch(() => undefined));
  if (controlApi) {
    work.push(
      fetch(`${origin}/__control/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          // Not a realm path (validateRealms): the schema accepts it, the lookup refuses it.
          realm: ' warm-up',
          id: 'warm-up',
          name: 'Warm Up',
          email: 'warm-up@example.test',
          roles: ['warm-up'],
          claims: { warm_up: true },
        }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
        .then(drain)
        .then(
          () => undefined,
          () => undefined,
        ),
    );
  }
  await Promise.all(work);
}
