import type { Request, RequestHandler, Response } from 'express';
import { problem } from '../errors.ts';
import type { GatehouseContext } from '../context.ts';
import type { RouteConfig } from '../config/schema.ts';
import type { SessionRecord } from '../session/model.ts';
import { forwardRequest } from '../proxy/forward.ts';
import { upstreamRequestHeaders } from '../proxy/headers.ts';
import { matchRoute, type RouteMatch } from '../proxy/routes.ts';
import { readRequestSession, slideSessionIfDue } from './session-access.ts';
import { clientIp } from './rate-limit.ts';

/**
 * Route lookup and method allow-list, before the session is read: a request that is refused
 * anyway (bad path, unknown route, wrong method) costs no store access.
 */
export function resolveApiRoute(ctx: GatehouseContext): RequestHandler {
  return (req, res, next) => {
    const match = matchRoute(ctx.config.routes, req.originalUrl);
    if (!match.route.methods.includes(req.method as (typeof match.route.methods)[number])) {
      throw problem('method_not_allowed', {
        headers: { allow: match.route.methods.join(', ') },
      });
    }
    res.locals.apiRoute = match;
    next();
  };
}

/**
 * `ANY /api/<route>/…` after {@link resolveApiRoute}: session (one store read, without
 * express-session: see {@link readRequestSession}), tenant restriction, token by mode
 * (refreshing first when it is about to expire), then streaming to the upstream. At steady
 * state: one Redis read and no write.
 */
export function apiProxy(ctx: GatehouseContext): RequestHandler {
  // Per deployment, not per request.
  const publicUrl = new URL(ctx.publicOrigin);
  const onDrain = (end: () => void) => ctx.drain.onDrain(end);
  return async (req: Request, res: Response) => {
    const { route, upstreamUrl } = res.locals.apiRoute as RouteMatch;

    const session = await readRequestSession(ctx, req);
    // Whom the access line names (tenant, provider, user digest), read only if it is written.
    if (session) res.locals.sessionRecord = session.record;
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
    if (session && route.tokenMode !== 'none') {
      const record = await slideSessionIfDue(ctx, session.sid, session.record);
      authorization = `Bearer ${await upstreamToken(ctx, session.sid, route, record)}`;
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
 * Gateway mode (`authz-route.ts`) hands out the same tokens.
 */
export async function upstreamToken(
  ctx: GatehouseContext,
  sid: string,
  route: RouteConfig,
  record: SessionRecord,
): Promise<string> {
  if (route.tokenMode !== 'gatehouse')
    return ctx.refresher.accessToken(sid, record, route.resource);
  // loadConfig refuses a `gatehouse` route without an audience; never fall back to the IdP token.
  if (!route.audience) throw new Error(`route ${route.prefix} has no audience`);
  return ctx.downstreamTokens.tokenFor({
    sessionId: sid,
    session: record,
    audience: route.audience,
    lifetimeSeconds: route.tokenLifetimeSeconds,
  });
}
