import type { Request, RequestHandler, Response } from 'express';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import {
  assertCsrf,
  gatewayRoute,
  identityHeaders,
  needsSession,
  originalRequest,
} from '../proxy/forward-auth.ts';
import { refuseDpopBound, upstreamToken } from './api-route.ts';
import { gatewaySlot, sessionRecordSlot } from './request-state.ts';
import {
  readRequestSession,
  sessionClaims,
  slideSessionIfDue,
  type RequestSession,
} from './session-access.ts';
import { auditOrigin } from './audit-origin.ts';

/** Forward-auth (gateway mode): what it uses of the context. */
export type AuthzRouteDeps = Pick<
  GatehouseContext,
  | 'clock'
  | 'config'
  | 'cookies'
  | 'downstreamTokens'
  | 'metrics'
  | 'publicOrigin'
  | 'rateLimits'
  | 'refresher'
  | 'registry'
  | 'sessions'
  | 'testControls'
  | 'vault'
>;

export const AUTHZ_PATH = '/bff/authz';

type TrustFunction = (address: string, hop: number) => boolean;

/**
 * `/bff/authz`, before the session is read: the peer must be a trusted proxy (Express
 * `trust proxy`), the original method and URI well-formed, the CSRF rules met for the original
 * method, and the route (`?route=<name>` or `gateway.route`) must allow that method. A refused
 * request costs no store access.
 */
export function authzChecks(ctx: AuthzRouteDeps): RequestHandler {
  return (req, res, next) => {
    // Exactly this path: Express would also match `/bff/AUTHZ` and `/bff/authz/`, which a
    // gateway's rule that keeps browsers off `/bff/authz` might not cover.
    if (req.path !== AUTHZ_PATH) return next('route');
    const trust = req.app.get('trust proxy fn') as TrustFunction;
    // Hop 0 is the peer itself: the one address `trust proxy` must name for its headers to count.
    const trustedPeer = trust(req.socket.remoteAddress ?? '', 0);
    const original = originalRequest(trustedPeer, req.headers);
    assertCsrf(original, req.headers, ctx.publicOrigin);
    const requested = req.query.route;
    if (requested !== undefined && typeof requested !== 'string') {
      throw problem('invalid_parameter', { detail: 'route must appear once.' });
    }
    const route = gatewayRoute(
      ctx.config.routes,
      requested,
      ctx.config.gateway.route,
      original.method,
    );
    gatewaySlot.set(res, { route });
    next();
  };
}

/**
 * `/bff/authz` after {@link authzChecks}: the same session read and access as a
 * proxied `/api` call (timeouts, live provider, tenant restriction, slide, refresh when due), then
 * `200` with `Authorization: Bearer …` and the identity headers for the gateway to pass on, and
 * no body. Without a session: 401, unless the route lets anonymous calls through.
 */
export function authzAnswer(ctx: AuthzRouteDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const decision = gatewaySlot.get(res);
    if (!decision) throw new Error('authzAnswer runs after authzChecks');
    const { route } = decision;
    res.setHeader('cache-control', 'no-store');

    const session = await readRequestSession(ctx, req);
    if (session) sessionRecordSlot.set(res, session.record);
    if (!session && needsSession(route)) throw problem('unauthenticated');
    if (session && route?.tenants && !route.tenants.includes(session.record.tenant)) {
      throw problem('tenant_not_allowed');
    }
    // The route's own limit, the same budget as its `/api` calls: a browser cannot spend it twice
    // by going through the gateway.
    if (route?.rateLimit) {
      await ctx.rateLimits.consumeRoute(route.prefix, {
        handle: session?.record.handle,
        ip: req.ip,
      });
    }
    if (!session) {
      res.status(200).end();
      return;
    }
    if (route?.tokenMode === 'none') {
      res.status(200).end();
      return;
    }
    const record = await slideSessionIfDue(ctx, session.sid, session.record);
    // The gateway sends the token on without a proof of its own: never a DPoP-bound one.
    if (route?.tokenMode !== 'gatehouse') {
      refuseDpopBound(record, 'Gateway mode cannot send proof-of-possession (DPoP) tokens.');
    }
    const token = route
      ? await upstreamToken(ctx, session.sid, route, record, auditOrigin(req))
      : await ctx.refresher.accessToken(session.sid, record);
    // Everything that can fail first: a refusal must never carry the token.
    const sub = await subjectOf(ctx, req, { sid: session.sid, record });
    res.setHeader('authorization', `Bearer ${token}`);
    for (const [name, value] of Object.entries(identityHeaders(record, sub))) {
      res.setHeader(name, value);
    }
    res.status(200).end();
  };
}

/** Subjects already opened, by sealed claims: a session's claims are opened once per process. */
const openedSubjects = new Map<string, string>();
const MAX_OPENED_SUBJECTS = 10_000;

/** The session's raw `sub`, from its sealed claims (kept in clear only as a digest). */
async function subjectOf(
  ctx: AuthzRouteDeps,
  req: Request,
  { sid, record }: RequestSession,
): Promise<string> {
  const known = openedSubjects.get(record.claims);
  if (known !== undefined) return known;
  const claims = await sessionClaims(ctx, req, { sid, record });
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  if (typeof record.claims === 'string') {
    if (openedSubjects.size >= MAX_OPENED_SUBJECTS) {
      const oldest = openedSubjects.keys().next();
      if (!oldest.done) openedSubjects.delete(oldest.value);
    }
    openedSubjects.set(record.claims, sub);
  }
  return sub;
}
