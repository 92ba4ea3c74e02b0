import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Express } from 'express';
import proxyAddr from 'proxy-addr';
import { problem } from '../errors.ts';
import type { GatehouseContext } from '../context.ts';
import type { RouteConfig } from '../config/schema.ts';
import { isDpopBound, type SessionRecord } from '../session/model.ts';
import { forwardRequest, type ForwardOptions } from '../proxy/forward.ts';
import { upstreamRequestHeaders } from '../proxy/headers.ts';
import { matchRoute, type RouteMatch } from '../proxy/routes.ts';
import { apiRouteSlot, sessionRecordSlot } from './request-state.ts';
import {
  endUnopenableSession,
  readRequestSession,
  slideDue,
  slideSessionIfDue,
} from './session-access.ts';
import type { AuditOrigin } from '../observability/audit.ts';
import { UnopenableValueError } from '../session/vault.ts';
import { csrfHeaderRefusal } from './csrf.ts';
import { errorHandler } from './problem.ts';
import { asExpress } from './express-objects.ts';
import { accessLineWriter, requestIdOf, requestLogger } from './request-log.ts';

/** The /api path: what it uses of the context. */
export type ApiRouteDeps = Pick<
  GatehouseContext,
  | 'clock'
  | 'config'
  | 'cookies'
  | 'downstreamTokens'
  | 'drain'
  | 'logger'
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
export type UpstreamTokenDeps = Pick<
  GatehouseContext,
  'downstreamTokens' | 'metrics' | 'refresher' | 'sessions'
>;

/** The route of a raw request target, refused (404, 400, 405) before any store access. */
function resolveRoute(
  ctx: Pick<GatehouseContext, 'config'>,
  target: string,
  method: string,
): RouteMatch {
  const match = matchRoute(ctx.config.routes, target);
  if (!match.route.methods.includes(method as (typeof match.route.methods)[number])) {
    throw problem('method_not_allowed', {
      headers: { allow: match.route.methods.join(', ') },
    });
  }
  return match;
}

type ApiRequest = IncomingMessage & { originalUrl?: string };
/** Node's response with the `locals` the request slots keep (Express's objects have it already). */
type ApiResponse = ServerResponse & { locals: object };

/** A handler of API calls on Node's own request and response objects. */
export type ApiRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ApiRequestHandlerOptions {
  /** The headers every answer carries (helmet's, computed once). */
  securityHeaders: ReadonlyArray<readonly [string, string]>;
}

const noop = () => undefined;

/**
 * `ANY /api/<route>/…`, the busiest path, in one function that takes Node's request and
 * response as they come (from the server's `request` event, or from Express's `/api` mount for
 * targets the server does not route here itself): no router, no middleware chain, one `close`
 * listener for the metrics and the access line, the security headers written with the answer's
 * own. The rules are the shared ones: connection tracking for the drain, the request id, the CSRF
 * check of `csrf.ts`, the route and method of `proxy/routes.ts` (until here no store was
 * touched), the session read of `session-access.ts` (one Redis read, without express-session),
 * the sampled access line of `request-log.ts`, the metrics of `request-metrics.ts`, and any
 * failure answered by the one error handler of `problem.ts` (problem+json).
 */
export function apiRequestHandler(
  ctx: ApiRouteDeps,
  app: Express,
  options: ApiRequestHandlerOptions,
): ApiRequestHandler {
  const publicUrl = new URL(ctx.publicOrigin);
  const onDrain = (end: () => void) => ctx.drain.onDrain(end);
  const trust = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
  const accessLine = accessLineWriter(ctx.logger, {
    proxiedSuccessSampleRate: ctx.config.accessLogSampleRate,
  });
  const handleError = errorHandler();
  const security = options.securityHeaders;
  const track = ctx.drain.track as unknown as (
    req: IncomingMessage,
    res: ServerResponse,
    next: () => void,
  ) => void;
  const metrics = ctx.metrics;

  // What forwardRequest needs of a route, the same for each of its calls: built once per route.
  const forwardOptions = new WeakMap<RouteConfig, ForwardOptions>();
  // The request's logger, made on first use: a call that goes well never needs it.
  const loggerOf = (req: IncomingMessage) => requestLogger(ctx.logger, req);
  function forwardOptionsOf(route: RouteConfig): ForwardOptions {
    let options = forwardOptions.get(route);
    if (!options) {
      const pool = ctx.upstreams.for(route.timeoutMs);
      options = {
        dispatcher: pool.pooled,
        retryDispatcher: pool.fresh,
        logger: loggerOf,
        observer: metrics.upstream(route.prefix),
        onDrain,
      };
      forwardOptions.set(route, options);
    }
    return options;
  }

  /** Once the answer is done or the client left: metrics, then the access line. */
  function onClose(this: ApiResponse & { [STARTED]: number }): void {
    const req = this.req as ApiRequest;
    const started = this[STARTED];
    if (metrics.enabled) {
      metrics.httpRequest(
        apiRouteSlot.get(this)?.route.prefix ?? 'api:other',
        req.method ?? '',
        this.writableFinished ? this.statusCode : undefined,
        (performance.now() - started) / 1000,
      );
    }
    accessLine(req, this, started);
  }

  /** A refusal or failure: the error handler of every other route, on Express's objects. */
  function fail(req: ApiRequest, res: ApiResponse, error: unknown): void {
    try {
      const [expressReq, expressRes] = asExpress(app, req, res);
      if (!res.headersSent) {
        for (const [name, value] of security) res.setHeader(name, value);
        res.setHeader('x-request-id', req.id);
      }
      handleError(error, expressReq, expressRes, noop);
    } catch {
      res.destroy();
    }
  }

  return (rawReq, rawRes) => {
    const req = rawReq as ApiRequest;
    const res = rawRes as ApiResponse & { [STARTED]: number };
    res[STARTED] = performance.now();
    track(req, res, noop);
    const id = requestIdOf(req.headers['x-request-id']);
    req.id = id;
    // Express's `res.locals`, which the request slots use; a raw response has none yet.
    res.locals = {};
    res.once('close', onClose);
    let match: RouteMatch;
    try {
      const refusal = csrfHeaderRefusal(req.headers, ctx.publicOrigin);
      if (refusal) throw refusal;
      match = resolveRoute(ctx, req.originalUrl ?? req.url ?? '', req.method ?? '');
    } catch (error) {
      fail(req, res, error);
      return;
    }
    apiRouteSlot.set(res, match);
    proxyCall(req, res, match).catch((error: unknown) => fail(req, res, error));
  };

  async function proxyCall(req: ApiRequest, res: ApiResponse, match: RouteMatch): Promise<void> {
    const { route } = match;
    // Each step below is awaited only when it has something asynchronous to do: at steady state
    // the session read is the one await before the upstream call.
    const ip = clientAddress(req, trust);
    const session = await readRequestSession(ctx, req, () => ({
      requestId: req.id,
      ...(ip ? { ip } : {}),
    }));
    if (session) sessionRecordSlot.set(res, session.record);
    if (!session && (route.tokenMode === 'user' || route.tokenMode === 'gatehouse')) {
      throw problem('unauthenticated');
    }
    if (session && route.tenants && !route.tenants.includes(session.record.tenant)) {
      throw problem('tenant_not_allowed');
    }
    // Only a route that opted in pays a limiter's Redis command.
    if (route.rateLimit) {
      await ctx.rateLimits.consumeRoute(route.prefix, { handle: session?.record.handle, ip });
    }

    let authorization: string | undefined;
    let dpop: string | undefined;
    if (session && route.tokenMode !== 'none') {
      const record = slideDue(ctx, session.record)
        ? await slideSessionIfDue(ctx, session.sid, session.record)
        : session.record;
      const pending = upstreamToken(ctx, session.sid, route, record, {
        requestId: req.id,
        ...(ip ? { ip } : {}),
      });
      const token = typeof pending === 'string' ? pending : await pending;
      if (route.tokenMode !== 'gatehouse' && isDpopBound(record)) {
        // RFC 9449 §7.1: the bound token with a fresh proof of this very call (`htu` without
        // query and fragment; upstreamToken refused routes that do not accept DPoP).
        ({ authorization, dpop } = await ctx.refresher.dpopHeaders(
          session.sid,
          record,
          token,
          req.method ?? '',
          match.upstreamUrl,
        ));
      } else {
        authorization = `Bearer ${token}`;
      }
    }

    await forwardRequest(forwardOptionsOf(route), req, res, {
      origin: match.upstreamOrigin,
      path: match.upstreamPath,
      method: req.method ?? '',
      headers: upstreamRequestHeaders(req.headers, {
        clientIp: ip,
        publicUrl,
        requestId: req.id,
        authorization,
        dpop,
      }),
      timeoutMs: route.timeoutMs,
      idleTimeoutMs: route.idleTimeoutMs,
      allowSetCookie: route.allowSetCookie,
      responseHeaders: security,
      requestId: req.id,
    });
  }
}

const STARTED = Symbol('gatehouse.api.started');

/**
 * Whether the server can hand a raw request target straight to the API handler: the common
 * `/api/…` form. Anything else Express routes (its `/api` mount, first in the app, calls the
 * same handler for `/api`, `/API/…`, absolute-form targets and the like).
 */
export const isApiTarget = (url: string | undefined): boolean =>
  url !== undefined && url.startsWith('/api/');

/** The client address as Express's `req.ip` computes it (`trust proxy`). */
function clientAddress(
  req: IncomingMessage,
  trust: (address: string, hop: number) => boolean,
): string | undefined {
  try {
    return proxyAddr(req, trust);
  } catch {
    return req.socket.remoteAddress;
  }
}

/**
 * The IdP's access token (refreshed first when about to expire), or for `gatehouse` routes a
 * Gatehouse-signed token for the route's audience: no IdP round trip and no store access.
 * Gateway mode (`authz-route.ts`) hands out the same tokens. A DPoP-bound token is handed out
 * only for a route that accepts DPoP (`dpop: true`), whose caller adds the proof; elsewhere it
 * would go out as a Bearer token, so the call is refused (403 `dpop_not_accepted`). A token
 * already opened in this process and not due for a refresh comes back as it is, not in a promise
 * (the proxied call's steady state takes no asynchronous step for it). Either token needs a value
 * sealed in the session (the IdP's tokens, or the claims a Gatehouse-signed token is made of):
 * one sealed under a retired encryption key, or damaged, ends the session (401
 * `session_expired`, audited with `origin`), never a 500.
 */
export function upstreamToken(
  ctx: UpstreamTokenDeps,
  sid: string,
  route: RouteConfig,
  record: SessionRecord,
  origin?: AuditOrigin,
): string | Promise<string> {
  if (route.tokenMode !== 'gatehouse') {
    if (!route.dpop) refuseDpopBound(record);
    return ctx.refresher.accessToken(sid, record, route.resource);
  }
  // loadConfig refuses a `gatehouse` route without an audience; never fall back to the IdP token.
  if (!route.audience) throw new Error(`route ${route.prefix} has no audience`);
  return ctx.downstreamTokens
    .tokenFor({
      sessionId: sid,
      session: record,
      audience: route.audience,
      lifetimeSeconds: route.tokenLifetimeSeconds,
    })
    .catch((error: unknown) => {
      if (!(error instanceof UnopenableValueError)) throw error;
      return endUnopenableSession(ctx, sid, record, error, origin);
    });
}

/** A session whose IdP tokens are DPoP-bound never has them sent as Bearer tokens. */
export function refuseDpopBound(record: SessionRecord, detail?: string): void {
  if (isDpopBound(record)) throw problem('dpop_not_accepted', detail ? { detail } : {});
}
