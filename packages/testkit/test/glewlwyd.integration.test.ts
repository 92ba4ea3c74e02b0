/**
 * The glewlwyd the e2e suite registers as a tenant's provider (`startGlewlwyd`), checked on its
 * own over HTTP: what it serves after start-up, and the quirks of its token endpoint that the
 * README's "Identity providers" section tells tenant admins about. If a glewlwyd upgrade changes
 * one of them, this fails and the README needs the change too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGlewlwyd, type RunningGlewlwyd } from '../src/glewlwyd.ts';

const REDIRECT_URI = 'http://localhost:9/bff/callback/t/glewlwyd';
/** Needs RFC 6749 form-encoding in HTTP Basic (`-` → `%2D`), as openid-client does. */
const SECRET = 'se-cret-with-dashes';

let op: RunningGlewlwyd;

beforeAll(async () => {
  op = await startGlewlwyd({ resources: ['http://localhost:9'] });
  await op.addClient({ clientId: 'post-only', clientSecret: SECRET, redirectUris: [REDIRECT_URI] });
  await op.addClient({
    clientId: 'post-and-basic',
    clientSecret: SECRET,
    redirectUris: [REDIRECT_URI],
    authMethods: ['client_secret_post', 'client_secret_basic'],
  });
}, 60_000);

afterAll(async () => {
  await op?.stop();
});

/** A code grant with a code that was never issued: only the client authentication matters. */
async function dummyCodeGrant(auth: { basic?: string; post?: Record<string, string> }) {
  const res = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: auth.basic
      ? { authorization: `Basic ${Buffer.from(auth.basic).toString('base64')}` }
      : {},
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: 'never-issued',
      redirect_uri: REDIRECT_URI,
      ...auth.post,
    }),
  });
  return { status: res.status, body: (await res.json()) as { error?: string } };
}

describe('startGlewlwyd', () => {
  it('serves discovery for the plugin issuer, with PKCE S256, client_secret_post and end-session', async () => {
    const res = await fetch(`${op.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const discovery = (await res.json()) as Record<string, unknown>;
    expect(op.issuer).toBe(`${op.origin}/api/oidc`);
    expect(discovery.issuer).toBe(op.issuer);
    expect(discovery.code_challenge_methods_supported).toContain('S256');
    expect(discovery.token_endpoint_auth_methods_supported).toContain('client_secret_post');
    expect(discovery.id_token_signing_alg_values_supported).toContain('RS256');
    expect(discovery.end_session_endpoint).toBe(`${op.issuer}/end_session`);
  });

  it('publishes the RS256 key generated for this run, public part only', async () => {
    const res = await fetch(`${op.issuer}/jwks`);
    const { keys } = (await res.json()) as { keys: Array<Record<string, unknown>> };
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256' });
    expect(typeof keys[0]?.kid).toBe('string');
    expect(keys[0]).not.toHaveProperty('d');
  });

  it('serves its login webapp with the real config.json (the packaged one is a symlink to a directory)', async () => {
    const page = await fetch(op.loginUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Glewlwyd');
    const config = await fetch(`${op.origin}/config.json`);
    expect(config.status).toBe(200);
    expect(((await config.json()) as { LoginUrl?: string }).LoginUrl).toBe('login.html');
  });

  it('no longer accepts the packaged admin password', async () => {
    const res = await fetch(`${op.origin}/api/auth/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'password' }),
    });
    expect(res.status).toBe(401);
  });

  it('accepts a secret with "-" in client_secret_post: a bad code, not a bad client', async () => {
    const accepted = await dummyCodeGrant({
      post: { client_id: 'post-only', client_secret: SECRET },
    });
    // glewlwyd answers a bad code with 403 `invalid_code`, not RFC 6749's 400 `invalid_grant`.
    expect(accepted).toEqual({ status: 403, body: { error: 'invalid_code' } });
    const refused = await dummyCodeGrant({
      post: { client_id: 'post-only', client_secret: `${SECRET}x` },
    });
    // …and bad credentials with 403 `unauthorized_client`, not 401 `invalid_client`.
    expect(refused).toEqual({ status: 403, body: { error: 'unauthorized_client' } });
  });

  it('refuses HTTP Basic for a client registered for client_secret_post only', async () => {
    const res = await dummyCodeGrant({ basic: `post-only:${SECRET}` });
    expect(res.body.error).toBe('unauthorized_client');
  });

  it('does not undo the form-encoding of HTTP Basic credentials, so a "-" in the secret fails', async () => {
    // The raw secret passes (a bad code); the RFC 6749 §2.3.1 encoding of the same secret does not.
    const raw = await dummyCodeGrant({ basic: `post-and-basic:${SECRET}` });
    expect(raw.body.error).toBe('invalid_code');
    const encoded = await dummyCodeGrant({
      basic: `post-and-basic:${SECRET.replaceAll('-', '%2D')}`,
    });
    expect(encoded.body.error).toBe('unauthorized_client');
  });
});
