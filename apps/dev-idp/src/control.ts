import { randomBytes } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { CompactSign, importJWK } from 'jose';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { signingJwkOf } from './provider.ts';
import type { DevIdpRealm, DevIdpUser } from './realms.ts';
import type { UserDirectory } from './users.ts';

/** Token endpoint counters of one realm. */
export interface RealmStats {
  tokenEndpointCalls: number;
  byGrantType: Record<string, number>;
}

export interface ControlTarget {
  stats: ReadonlyMap<string, RealmStats>;
  realms: ReadonlyMap<string, { realm: DevIdpRealm; provider: Provider; users: UserDirectory }>;
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

const ttlSeconds = z
  .number()
  .int()
  .min(1)
  .max(30 * 24 * 3600);

/** A user made on the fly: every field but the realm is optional. */
const newUserSchema = z.strictObject({
  realm: z.string().max(200),
  /** Login name and `sub`; a random one when absent. */
  id: z
    .string()
    .regex(/^[A-Za-z0-9._@+-]{1,100}$/, 'must be 1-100 letters, digits or ._@+-')
    .optional(),
  name: z.string().min(1).max(200).optional(),
  email: z.email().max(254).optional(),
  emailVerified: z.boolean().optional(),
  roles: z.array(z.string().min(1).max(100)).max(50).optional(),
  claims: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/), z.json())
    .refine((claims) => Object.keys(claims).length <= 50, 'at most 50 claims')
    .optional(),
  accessTokenTtlSeconds: ttlSeconds.optional(),
  refreshTokenTtlSeconds: ttlSeconds.optional(),
  /** Show the consent page at sign-in (by default a user made here has consented up front). */
  askConsent: z.boolean().optional(),
});

/** Test-only endpoints: stats, token endpoint delay, back-channel logout trigger, users. */
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

  // A user with any claims and lifetimes, made on the fly (tests only: the whole router is).
  // The answer carries a random password for the real login page.
  router.post('/users', (req, res) => {
    const parsed = newUserSchema.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return badRequest(res, `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
    }
    const { realm: realmPath, askConsent, ...fields } = parsed.data;
    const entry = target.realms.get(realmPath);
    if (!entry) return badRequest(res, 'realm must be the path of a configured realm');
    const id = fields.id ?? `user-${randomBytes(9).toString('base64url')}`;
    const user: DevIdpUser = {
      ...fields,
      id,
      password: randomBytes(18).toString('base64url'),
      name: fields.name ?? id,
      email: fields.email ?? `${id.toLowerCase().replace(/[^a-z0-9._+-]/g, '-')}@example.test`,
      consentGiven: askConsent !== true,
    };
    if (!entry.users.add(user)) {
      res.status(409).json({
        error: entry.users.has(id) ? 'user_exists' : 'too_many_users',
        error_description: entry.users.has(id)
          ? 'a user with this id exists in the realm'
          : 'the realm holds as many users as it may',
      });
      return;
    }
    res.status(201).json({ ...user, sub: id, login: id, realm: realmPath });
  });

  // Ages the OP's cached copy of a client's `jwks_uri` document as if its cache time had passed
  // (oidc-provider keeps it at least 60 s and refetches a stale one when a `kid` is unknown):
  // key rotation tests need not wait for it.
  router.post('/clients/jwks-cache-expired', async (req, res) => {
    const [realmPath, clientId] = ['realm', 'clientId'].map((name) => jsonField(req.body, name));
    const entry = typeof realmPath === 'string' ? target.realms.get(realmPath) : undefined;
    if (!entry) return badRequest(res, 'realm must be the path of a configured realm');
    const client =
      typeof clientId === 'string' ? await entry.provider.Client.find(clientId) : undefined;
    if (!client?.jwksUri) return badRequest(res, 'clientId must name a client with a jwks_uri');
    // Not in @types/oidc-provider: the client's key store and its freshness.
    const store = (client as unknown as { asymmetricKeyStore?: { freshUntil?: number } })
      .asymmetricKeyStore;
    if (store) store.freshUntil = 0;
    res.status(204).end();
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
