import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express, { type Express, type RequestHandler } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { problem } from '../errors.ts';
import type { GatehouseContext } from '../context.ts';
import { loggableUrl } from '../observability/logger.ts';
import { adminRouter } from '../admin/routes.ts';
import { apiProxy, resolveApiRoute } from './api-route.ts';
import { logContextOf } from './audit-origin.ts';
import { AUTHZ_PATH, authzAnswer, authzChecks } from './authz-route.ts';
import { backchannelLogoutRoute } from './backchannel-route.ts';
import { bffRouter } from './bff-routes.ts';
import { sessionRouter } from './session-routes.ts';
import { simulatedStoreOutage, testControlsRouter } from './test-controls-route.ts';
import { requireCsrfHeader } from './csrf.ts';
import { jwksHandler } from './jwks-route.ts';
import { errorHandler } from './problem.ts';
import { requestMetrics } from './request-metrics.ts';

export interface AppOptions {
  store: session.Store;
  /** Readiness probe: resolves when the shared store answers. */
  ping: () => Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The Express adapter: maps HTTP onto the core; every route file only composes named steps. */
export function createApp(ctx: GatehouseContext, options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', ctx.config.trustProxy);
  app.set('query parser', 'simple');

  app.use(ctx.drain.track);
  app.use(requestMetrics(ctx.metrics));
  app.use(requestLogger(ctx));
  app.use(securityHeaders(ctx));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    // Shutting down: a balancer probing on a connection still open stops sending here.
    if (ctx.drain.draining) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    try {
      await options.ping();
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'session store unreachable' });
    }
  });

  // Before any session middleware: a public document, no store read.
  app.get('/.well-known/jwks.json', jwksHandler(ctx.signingKeys));

  // Whatever /bff and the admin API answer is about a session or a tenant: never cached.
  app.use(['/bff', '/admin/api'], noStore);
  const session = sessionMiddleware(ctx, options.store);
  // With the test controls, a session may ask to be answered as if the store were down.
  const sessions = ctx.testControls ? [session, simulatedStoreOutage(ctx)] : [session];
  app.post('/bff/backchannel-logout/:tenant/:provider', ...backchannelLogoutRoute(ctx));
  // Gateway mode: a reverse proxy's authorization subrequest (any method: nginx sends the
  // original one). Cheap refusals first (peer, headers, CSRF, route); only then the session read.
  if (ctx.config.gateway.enabled) {
    app.all(AUTHZ_PATH, authzChecks(ctx), sessions, authzAnswer(ctx));
  }
  // Development mode only: the routes, or (without `testControls`) a clear 404 saying so.
  if (ctx.config.mode === 'development') {
    app.use('/bff/test-controls', ...(ctx.testControls ? [session] : []), testControlsRouter(ctx));
  }
  app.use('/bff/sessions', sessions, sessionRouter(ctx));
  app.use('/bff', sessions, bffRouter(ctx));
  // Cheap refusals first (CSRF, path, method); only then the one session read.
  app.use(
    '/api',
    requireCsrfHeader(ctx.publicOrigin),
    resolveApiRoute(ctx),
    sessions,
    apiProxy(ctx),
  );
  // JSON bodies (32 kB) are parsed inside, after the caller is identified.
  app.use('/admin/api', sessions, adminRouter(ctx));

  if (ctx.config.staticDir) serveSpa(app, resolve(ctx.config.staticDir));
  app.use((_req, _res, next) => next(problem('not_found')));
  app.use(errorHandler(ctx.logger));
  return app;
}

const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('cache-control', 'no-store');
  next();
};

function requestLogger(ctx: GatehouseContext): RequestHandler {
  return pinoHttp({
    logger: ctx.logger,
    genReqId: (req, res) => {
      const incoming = req.headers['x-request-id'];
      const id =
        typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    // Only what is safe to keep: no headers (cookies, tokens), no query values (codes, states).
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: loggableUrl(req.url),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (req, res, err) => requestLogLevel(req, res, err),
    // pino-http would attach a made-up Error (with a stack) to every 5xx line.
    customErrorObject: (req, res, _err, value: Record<string, unknown>) => {
      const { err: _made, ...line } = value;
      return { ...line, ...logContextOf(req, res) };
    },
    // Tenant, provider and user handle (a digest) of the request, and an error's code and cause:
    // merged into the line when it is written (no child logger per request).
    customSuccessObject: (req, res, value: Record<string, unknown>) => {
      const context = logContextOf(req, res);
      return context ? { ...value, ...context } : value;
    },
  });
}

const PROBES = new Set(['/healthz', '/readyz']);

/**
 * The level of a request's access-log line. A 500 is a bug (the error handler logs its stack);
 * 502/503/504 are a dependency's outage, logged once per transition by the outage log, so each
 * such answer is only a warning. A probe that succeeds is not logged at all (a balancer asks
 * every few seconds); a failing one is.
 *
 * @example
 * requestLogLevel({ url: '/healthz' }, { statusCode: 200 }); // 'silent'
 */
export function requestLogLevel(
  req: { url?: string | undefined; originalUrl?: string | undefined },
  res: { statusCode: number },
  err?: Error,
): 'error' | 'warn' | 'info' | 'silent' {
  if (err || res.statusCode === 500) return 'error';
  if (res.statusCode > 500) return 'warn';
  const path = (req.originalUrl ?? req.url ?? '').split('?')[0] ?? '';
  return PROBES.has(path) && res.statusCode < 400 ? 'silent' : 'info';
}

function securityHeaders(ctx: GatehouseContext): RequestHandler {
  const https = ctx.config.secureCookies;
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'no-referrer' },
  });
}

/**
 * express-session with connect-redis: no resave, no save of empty sessions, no rolling cookie,
 * touch disabled in the store — a request that changes nothing costs one read and no write.
 *
 * `unset` stays `keep`: with `destroy`, a request whose session read failed (Redis down) ends
 * with `req.session` unset, and express-session would then delete the session — a DEL that waits
 * in the client's offline queue and signs the user out as soon as Redis is back. Sessions end only
 * explicitly (`req.session.destroy`, `regenerate`, `SessionService.end`).
 */
export function sessionMiddleware(ctx: GatehouseContext, store: session.Store): RequestHandler {
  return session({
    name: ctx.cookies.session,
    secret: [...ctx.config.session.secrets],
    store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    unset: 'keep',
    cookie: {
      httpOnly: true,
      secure: ctx.config.secureCookies,
      sameSite: 'strict',
      path: '/',
      maxAge: ctx.config.session.absoluteTimeoutSeconds * 1000,
    },
  });
}

/** The built SPA: hashed assets cached for good, every other GET navigation gets index.html. */
function serveSpa(app: Express, directory: string): void {
  const index = join(directory, 'index.html');
  if (!existsSync(index)) throw new Error(`staticDir has no index.html: ${directory}`);
  app.use(
    '/assets',
    express.static(join(directory, 'assets'), { immutable: true, maxAge: '1y', index: false }),
  );
  app.use(express.static(directory, { index: false, maxAge: 0 }));
  app.get(/^\/(?!bff\/|api\/|admin\/api\/|\.well-known\/).*/, (req, res, next) => {
    if (req.accepts(['html', 'json']) !== 'html') return next();
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(index);
  });
}
