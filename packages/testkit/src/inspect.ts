import { gatehouseInternals, type SessionRecord, type TokenSet } from '@gatehouse/core/testing';
import { DEV_CLIENTS } from '@gatehouse/dev-idp';
import type { CookieFetch } from './cookie-fetch.ts';
import type { Stack } from './stack.ts';

export interface InspectedSession {
  sid: string;
  record: SessionRecord;
  tokens: TokenSet;
}

/**
 * What Gatehouse holds server-side for the session behind a cookie jar (read through the first
 * instance's own store and vault), so tests can check what the browser must never see.
 */
export async function inspectSession(stack: Stack, http: CookieFetch): Promise<InspectedSession> {
  const { origin, gatehouse } = stack.gatehouses[0]!;
  const { cookies, sessions, vault } = gatehouseInternals(gatehouse);
  const name = cookies.session;
  const raw = decodeURIComponent((await http.cookie(origin, name)) ?? '');
  const sid = /^s:([^.]+)\./.exec(raw)?.[1];
  const record = sid ? await sessions.read(sid) : undefined;
  if (!sid || !record) throw new Error('the jar has no live Gatehouse session');
  return { sid, record, tokens: await vault.open<TokenSet>(record.tokens) };
}

/**
 * Calls the dev IdP's introspection or revocation endpoint as the realm's Gatehouse client
 * (acme: realm '', globex: '/globex').
 */
export async function callIdpAsClient(
  stack: Stack,
  endpoint: 'introspection_endpoint' | 'revocation_endpoint',
  token: string,
  realm: '' | '/globex' = '',
): Promise<Response> {
  const metadata = (await (
    await fetch(`${stack.idp.issuer(realm)}/.well-known/openid-configuration`)
  ).json()) as Record<string, string>;
  const client = realm === '' ? DEV_CLIENTS.acme : DEV_CLIENTS.globex;
  const credentials = Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64');
  return fetch(metadata[endpoint] ?? '', {
    method: 'POST',
    headers: {
      authorization: `Basic ${credentials}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
}
