import type { Request, RequestHandler, Response } from 'express';
import { problem } from '../errors.ts';
import type { GatehouseContext } from '../context.ts';
import type { RouteConfig } from '../config/schema.ts';
import { isDpopBound, type SessionRecord } from '../session/model.ts';
import { forwardRequest } from '../proxy/forward.ts';
import { upstreamRequestHeaders } from '../proxy/headers.ts';
import { matchRoute } from '../proxy/routes.ts';
import { apiRouteSlot, sessionRecordSlot } from './request-state.ts';
import { readRequestSession, slideSessionIfDue } from './session-access.ts';
import { clientIp } from './rate-limit.ts';

/** The /api routes: what it uses of the context. */
export type ApiRouteDeps = Pick<
  GatehouseContext,
  | 'clock'
  | 'config'
  | 'cookies'
  | 'downstreamTokens'
  | 'drain'
  | 'metrics'
  | 'publicOrigin'
  | 'rateLimits'
  | 'refresher'
  | 'registry'
  | 'sessions'
  | 'testControls'
  | 'upstreams'
>;

/** The token for an upstream: the IdP's (refreshed when due) or a Gatehouse-signed one. */
export type UpstreamTokenDeps = Pick<GatehouseContext, 'downstreamTokens' | 'refresher'>;

/**
 * Route lookup and method allow-list, before the session is read: a request that is refused
 * anyway (bad path, unknown route, wrong method) costs no store access.
 */
export function resolveApiRoute(ctx: ApiRouteDeps): RequestHandler {
  return (req, res, next) => {
    const match = matchRoute(ctx.config.routes, req.originalUrl);
    if (!match.route.methods.includes(req.method as (typeof match.route.methods)[number])) {
      throw problem('method_not_allowed', {
        headers: { allow: match.route.methods.join(', ') },
      });
    }
    apiRouteSlot.set(res, match);
    next();
  };
}

/**
 * `ANY /api/<route>/…` after {@link resolveApiRoute}: session (one store read, without
 * express-session: see {@link readRequestSession}), tenant restriction, token by mode
 * (refreshing first when it is about to expire), then streaming to the upstream. At steady
 * state: one Redis read and no write.
 */
export function apiProxy(ctx: ApiRouteDeps): RequestHandler {
  // Per deployment, not per request.
  const publicUrl = new URL(ctx.publicOrigin);
  const onDrain = (end: () => void) => ctx.drain.onDrain(end);
  return async (req: Request, res: Response) => {
    const match = apiRouteSlot.get(res);
    if (!match) throw new Error('apiProxy runs after resolveApiRoute');
    const { route, upstreamUrl } = match;

    const session = await readRequestSession(ctx, req);
    // Whom the access line names (tenant, provider, user digest), read only if it is written.
    if (session) sessionRecordSlot.set(res, session.record);
    if (!session && (route.tokenMode === 'user' || route.tokenMode === 'gatehouse')) {
      throw problem('unauthenticated');
    }
    if (session && route.tenants && !route.tenants.includes(session.record.tenant)) {
      throw problem('tenant_not_allowed');
    }
    // Only a route that opted in pays a limiter's Redis command.
    if (route.rateLimit) {
      await ctx.rateLimits.consumeRoute(
        route.prefix,
        session ? `session:${session.record.handle}` : clientIp(req),
      );
    }

    let authorization: string | undefined;
    let dpop: string | undefined;
    if (session && route.tokenMode !== 'none') {
      const record = await slideSessionIfDue(ctx, session.sid, session.record);
      const token = await upstreamToken(ctx, session.sid, route, record);
      if (route.tokenMode !== 'gatehouse' && isDpopBound(record)) {
        // RFC 9449 §7.1: the bound token with a fresh proof of this very call (`htu` without
        // query and fragment; upstreamToken refused routes that do not accept DPoP).
        ({ authorization, dpop } = await ctx.refresher.dpopHeaders(
          session.sid,
          record,
          token,
          req.method,
          upstreamUrl,
        ));
      } else {
        authorization = `Bearer ${token}`;
      }
    }

    await forwardRequest(
      {
        dispatcher: ctx.upstreams.for(route.timeoutMs),
        // req.log is made on first use: a call that goes well never needs it.
        get logger() {
          return req.log;
        },
        observer: ctx.metrics.upstream(route.prefix),
        onDrain,
      },
      req,
      res,
      {
        url: upstreamUrl,
        method: req.method,
        headers: upstreamRequestHeaders(req.headers, {
          clientIp: req.ip,
          publicUrl,
          requestId: typeof req.id === 'string' ? req.id : '',
          ...(authorization ? { authorization } : {}),
          ...(dpop ? { dpop } : {}),
        }),
        timeoutMs: route.timeoutMs,
        idleTimeoutMs: route.idleTimeoutMs,
        allowSetCookie: route.allowSetCookie,
      },
    );
  };
}

/**
 * The IdP's access token (refreshed first when about to expire), or for `gatehouse` routes a
 * Gatehouse-signed token for the route's audience: no IdP round trip and no store access.
 * Gateway mode (`authz-route.ts`) hands out the same tokens. A DPoP-bound token is handed out
 * only for a route that accepts DPoP (`dpop: true`), whose caller adds the proof; elsewhere it
 * would go out as a Bearer token, so the call is refused (403 `dpop_not_accepted`).
 */
export async function upstreamToken(
  ctx: UpstreamTokenDeps,
  sid: string,
  route: RouteConfig,
  record: SessionRecord,
): Promise<string> {
  if (route.tokenMode !== 'gatehouse') {
    if (!route.dpop) refuseDpopBound(record);
    return ctx.refresher.accessToken(sid, record, route.resource);
  }
  // loadConfig refuses a `gatehouse` route without an audience; never fall back to the IdP token.
  if (!route.audience) throw new Error(`route ${route.prefix} has no audience`);
  return ctx.downstreamTokens.tokenFor({
    sessionId: sid,
    session: record,
    audience: route.audience,
    lifetimeSeconds: route.tokenLifetimeSeconds,
  });
}

/** A session whose IdP tokens are DPoP-bound never has them sent as Bearer tokens. */
export function refuseDpopBound(record: SessionRecord, detail?: string): void {
  if (isDpopBound(record)) throw problem('dpop_not_accepted', detail ? { detail } : {});
}
