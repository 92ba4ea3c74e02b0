import { existsSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { join, resolve } from 'node:path';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import { problem } from '../errors.ts';
import type { GatehouseContext } from '../context.ts';
import { apiRequestHandler, isApiTarget, type ApiRequestHandler } from './api-route.ts';
import { AUTHZ_PATH, authzAnswer, authzChecks } from './authz-route.ts';
import { backchannelLogoutRoute } from './backchannel-route.ts';
import { bffRouter, signInHandlers, signInRouter } from './bff-routes.ts';
import { sessionCookieOptions } from './express-session-store.ts';
import { TEST_SIGN_IN_ASSETS, testSignInScript, testSignInStyle } from './test-sign-in.ts';
import { sessionRouter } from './session-routes.ts';
import { signInRequestHandler, type SignInRequestHandler } from './sign-in-route.ts';
import { simulatedStoreOutage, testControlsRouter } from './test-controls-route.ts';
import { clientJwksHandler, jwksHandler } from './jwks-route.ts';
import { errorHandler } from './problem.ts';
import { PAGE_ASSETS_PREFIX, pageAssets } from './pages.ts';
import { requestMetrics } from './request-metrics.ts';
import { requestLog } from './request-log.ts';

export { requestLogLevel } from './request-log.ts';

export interface AppOptions {
  store: session.Store;
  /**
   * The admin API's router (`admin/routes.ts`), mounted at `/admin/api` behind the session
   * middleware. The composition root builds it: `admin/` builds on `http/`, not the reverse.
   */
  adminApi: RequestHandler;
  /** Readiness probe: resolves when the shared store answers. */
  ping: () => Promise<void>;
  /** True while the start-up warm-up still holds readiness back (a short bound at most). */
  starting?: () => boolean;
  /** The key check's state: ready only once it has `passed`. */
  keyCheck?: () => 'pending' | 'passed' | 'mismatch';
}

/**
 * The Express adapter: maps HTTP onto the core; every route file only composes named steps. It
 * takes the whole context because it hands each router the part that router names.
 */
export function createApp(ctx: GatehouseContext, options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', ctx.config.trustProxy);
  app.set('query parser', 'simple');

  const headers = capturedHeaders(helmetMiddleware(ctx.config.secureCookies));
  // The API proxy first (the busiest path, no other route shares its prefix), one handler that
  // does its own tracking, logging, metrics and headers; the server hands it `/api/…` targets
  // without Express (see serverListener), this mount gets the other forms (`/api`, `/API/…`).
  // Cheap refusals first (CSRF, path, method); only then the one session read, which the proxy
  // does itself (express-session's per-request work buys nothing on a call that never changes
  // the session through it).
  const api = apiRequestHandler(ctx, app, { securityHeaders: headers });
  apiHandlers.set(app, api);
  app.use('/api', (req, res) => api(req, res));

  // The middleware of every other request (the sign-in's two also run it without the router).
  const common = [
    ctx.drain.track,
    requestMetrics(ctx.metrics),
    requestLog(app, ctx.logger, {
      proxiedSuccessSampleRate: ctx.config.accessLogSampleRate,
    }),
    securityHeaders(headers),
  ];
  for (const middleware of common) app.use(middleware);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    // Shutting down: a balancer probing on a connection still open stops sending here.
    if (ctx.drain.draining) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    if (options.starting?.()) {
      res.status(503).json({ status: 'starting' });
      return;
    }
    try {
      await options.ping();
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'session store unreachable' });
      return;
    }
    const keys = options.keyCheck?.() ?? 'passed';
    if (keys === 'passed') res.json({ status: 'ready' });
    else if (keys === 'pending') res.status(503).json({ status: 'starting', reason: 'key check' });
    else res.status(503).json({ status: 'unavailable', reason: 'key mismatch' });
  });

  // Before any session middleware: a public document, no store read.
  app.get('/.well-known/jwks.json', jwksHandler(ctx.signingKeys));
  // A private_key_jwt provider's client keys: public too, and cacheable by its OP.
  app.get('/bff/jwks/:tenant/:provider', clientJwksHandler(ctx));

  // The stylesheet of Gatehouse's own pages (content-hashed name, cached for good).
  app.get(`${PAGE_ASSETS_PREFIX}/:file`, pageAssets());
  // The admin's test sign-in page's script and style: static, before any session read.
  app.get(`${TEST_SIGN_IN_ASSETS}.js`, testSignInScript);
  app.get(`${TEST_SIGN_IN_ASSETS}.css`, testSignInStyle);
  // Whatever /bff and the admin API answer is about a session or a tenant: never cached.
  app.use(['/bff', '/admin/api'], noStore);
  const session = sessionMiddleware(ctx, options.store);
  // With the test controls, a session may ask to be answered as if the store were down.
  const sessions = ctx.testControls ? [session, simulatedStoreOutage(ctx)] : [session];
  app.post('/bff/backchannel-logout/:tenant/:provider', ...backchannelLogoutRoute(ctx));
  // Gateway mode: a reverse proxy's authorization subrequest (any method: nginx sends the
  // original one). Cheap refusals first (peer, headers, CSRF, route); only then the session read.
  if (ctx.config.gateway.enabled) {
    app.all(AUTHZ_PATH, authzChecks(ctx), authzAnswer(ctx));
  }
  // Development mode only: the routes, or (without `testControls`) a clear 404 saying so.
  if (ctx.config.mode === 'development') {
    app.use('/bff/test-controls', ...(ctx.testControls ? [session] : []), testControlsRouter(ctx));
  }
  app.use('/bff/sessions', sessions, sessionRouter(ctx));
  // Sign-in start, home-realm discovery and the callback without express-session: the start
  // and discovery use no session (a test sign-in reads the admin's own directly), and the
  // callback writes the new one itself (`http/callback-route.ts`).
  const signIn = signInHandlers(ctx);
  app.use('/bff', signInRouter(ctx, signIn));
  app.use('/bff', sessions, bffRouter(ctx));
  // JSON bodies (32 kB) are parsed inside, after the caller is identified.
  app.use('/admin/api', sessions, options.adminApi);

  if (ctx.config.staticDir) serveSpa(app, resolve(ctx.config.staticDir));
  app.use((_req, _res, next) => next(problem('not_found')));
  const onError = errorHandler();
  app.use(onError);
  // `GET /bff/login` and the callback in their plain forms, handed over by the server (see
  // serverListener): the same middleware and handlers as the routes above, without the router.
  signInHandlerOf.set(
    app,
    signInRequestHandler(app, { middleware: [...common, noStore], handlers: signIn, onError }),
  );
  return app;
}

const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('cache-control', 'no-store');
  next();
};

/** The API handler of each app, for {@link serverListener}. */
const apiHandlers = new WeakMap<Express, ApiRequestHandler>();
/** The sign-in requests' handler of each app, for {@link serverListener}. */
const signInHandlerOf = new WeakMap<Express, SignInRequestHandler>();

/**
 * The server's request listener for an app of {@link createApp}: `/api/…` straight to the API
 * handler (no Express on the busiest path), the sign-in's `GET /bff/login` and callback to
 * their handlers (`http/sign-in-route.ts`), everything else to Express.
 */
export function serverListener(app: Express): RequestListener {
  const api = apiHandlers.get(app);
  const signIn = signInHandlerOf.get(app);
  if (!api || !signIn) return app;
  return (req, res) => {
    if (isApiTarget(req.url)) api(req, res);
    else if (!signIn(req, res)) void app(req, res);
  };
}

/**
 * helmet's headers (CSP, HSTS over https, no-referrer, nosniff, …). They are the same for every
 * request, so helmet runs once at start-up and each request gets the captured list.
 */
function securityHeaders(headers: ReadonlyArray<readonly [string, string]>): RequestHandler {
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/** The headers (lower-case names) a middleware that only sets static headers sets, by running it once. */
function capturedHeaders(middleware: RequestHandler): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const recorder = {
    setHeader: (name: string, value: string | number) =>
      headers.push([name.toLowerCase(), String(value)]),
    removeHeader: () => undefined,
  };
  let done = false;
  void middleware({} as Request, recorder as unknown as Response, () => {
    done = true;
  });
  if (!done || headers.length === 0) throw new Error('helmet did not set its headers at once');
  return headers;
}

function helmetMiddleware(https: boolean): RequestHandler {
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
 * express-session over the store port (`http/express-session-store.ts`): no resave, no save of empty sessions, no rolling cookie,
 * touch disabled in the store — a request that changes nothing costs one read and no write.
 *
 * `unset` stays `keep`: with `destroy`, a request whose session read failed (Redis down) ends
 * with `req.session` unset, and express-session would then delete the session — a DEL that waits
 * in the client's offline queue and signs the user out as soon as Redis is back. Sessions end only
 * explicitly (`req.session.destroy`, the callback replacing the browser's session,
 * `SessionService.end`).
 */
export function sessionMiddleware(
  ctx: Pick<GatehouseContext, 'config' | 'cookies'>,
  store: session.Store,
): RequestHandler {
  return session({
    name: ctx.cookies.session,
    secret: [...ctx.config.session.secrets],
    store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    unset: 'keep',
    cookie: {
      ...sessionCookieOptions(ctx.config.secureCookies),
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
