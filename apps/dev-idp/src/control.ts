import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { CompactSign, importJWK } from 'jose';
import type Provider from 'oidc-provider';
import { signingJwkOf } from './provider.ts';
import type { DevIdpRealm } from './realms.ts';

/** Token endpoint counters of one realm. */
export interface RealmStats {
  tokenEndpointCalls: number;
  byGrantType: Record<string, number>;
}

export interface ControlTarget {
  stats: ReadonlyMap<string, RealmStats>;
  realms: ReadonlyMap<string, { realm: DevIdpRealm; provider: Provider }>;
  setTokenEndpointDelay(ms: number): void;
}

interface BackchannelCapable {
  backchannelLogout(sub: string, sid?: string): Promise<void>;
}

// Present on oidc-provider's Client at runtime but missing from @types/oidc-provider.
function canBackchannel(client: object): client is BackchannelCapable {
  return typeof (client as Partial<BackchannelCapable>).backchannelLogout === 'function';
}

function badRequest(res: Response, message: string): void {
  res.status(400).json({ error: 'invalid_request', error_description: message });
}

function jsonField(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null
    ? (body as Record<string, unknown>)[name]
    : undefined;
}

/** Sends a logout token to every client of the realm that registered a backchannel_logout_uri. */
async function backchannelLogout(
  provider: Provider,
  realm: DevIdpRealm,
  sub: string,
  sid: string | undefined,
) {
  const targets = realm.clients.filter((c) => c.backchannel_logout_uri);
  const outcomes = await Promise.all(
    targets.map(async ({ client_id }) => {
      try {
        const client = await provider.Client.find(client_id);
        if (!client || !canBackchannel(client))
          throw new Error('client cannot receive back-channel logout');
        await client.backchannelLogout(sub, sid);
        return { client_id, ok: true as const };
      } catch (err) {
        return {
          client_id,
          ok: false as const,
          error: err instanceof Error ? err.message : String(err),
        };
      }
    }),
  );
  return {
    delivered: outcomes.filter((o) => o.ok).map((o) => o.client_id),
    failed: outcomes.filter((o) => !o.ok),
  };
}

/** Test-only endpoints: stats, token endpoint delay, back-channel logout trigger. */
export function controlRouter(target: ControlTarget): Router {
  const router = express.Router();
  router.use(express.json({ limit: '8kb' }));

  router.get('/stats', (_req, res) => {
    res.json({ realms: Object.fromEntries(target.stats) });
  });

  router.post('/delay', (req, res) => {
    const ms = jsonField(req.body, 'ms');
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > 60_000) {
      badRequest(res, 'ms must be an integer between 0 and 60000');
      return;
    }
    target.setTokenEndpointDelay(ms);
    res.json({ ms });
  });

  router.post('/backchannel-logout', async (req, res) => {
    const [realmPath, sub, sid] = ['realm', 'sub', 'sid'].map((name) => jsonField(req.body, name));
    const entry = typeof realmPath === 'string' ? target.realms.get(realmPath) : undefined;
    if (!entry) return badRequest(res, 'realm must be the path of a configured realm');
    if (typeof sub !== 'string' || !sub) return badRequest(res, 'sub must be a non-empty string');
    if (sid !== undefined && typeof sid !== 'string')
      return badRequest(res, 'sid must be a string');
    res.json(await backchannelLogout(entry.provider, entry.realm, sub, sid));
  });

  // Signs any payload with the realm's real key: lets tests build hostile-but-validly-signed
  // tokens (wrong audience, nonce present, no events…) that only a receiver's checks can refuse.
  router.post('/sign', async (req, res) => {
    const [realmPath, payload, header] = ['realm', 'payload', 'header'].map((n) =>
      jsonField(req.body, n),
    );
    const entry = typeof realmPath === 'string' ? target.realms.get(realmPath) : undefined;
    const jwk = entry ? signingJwkOf(entry.provider) : undefined;
    if (!jwk) return badRequest(res, 'realm must be the path of a configured realm');
    if (typeof payload !== 'object' || payload === null)
      return badRequest(res, 'payload must be an object');
    const extra = typeof header === 'object' && header !== null ? header : {};
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, ...extra })
      .sign(
        await importJWK(
          JSON.parse(JSON.stringify(jwk)) as Parameters<typeof importJWK>[0],
          'RS256',
        ),
      );
    res.json({ jwt: jws });
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = jsonField(err, 'status');
    if (typeof status !== 'number' || status < 400 || status >= 500) return next(err);
    res
      .status(status)
      .json({ error: 'invalid_request', error_description: 'malformed request body' });
  });
  return router;
}
