import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  ErrorRequestHandler,
  Express,
  NextFunction,
  Request,
  RequestHandler,
  Response,
} from 'express';
import { problem } from '../errors.ts';
import { asExpress } from './express-objects.ts';
import type { SignInHandlers } from './bff-routes.ts';

/**
 * The sign-in's two requests (`GET /bff/login`, `GET /bff/callback/:tenant/:provider`) handed by
 * the server straight to their handlers, as `/api/…` is (`http/api-route.ts`): the same
 * middleware Express runs for them (connection tracking, metrics, request id and access line,
 * security headers, `no-store`), then the same route handlers (`bff-routes.ts`
 * `signInHandlers`: the rate limit, the login start or the callback), and any failure to the
 * app's one error handler (problem+json or the error page), in that order, on Express's request
 * and response (its getters: `req.query`, `req.ip`, `res.cookie`…). What it skips is the
 * router's walk through every layer of the app before them, matching each path. Only the exact
 * common forms come here (see {@link signInTarget}); Express routes every other (`HEAD`, a
 * trailing slash, other case, an encoded path segment) to the same handlers.
 */

/** A sign-in target the server hands over, with its route parameters. */
export type SignInTarget =
  { route: 'login' } | { route: 'callback'; params: { tenant: string; provider: string } };

const LOGIN = '/bff/login';
const CALLBACK = '/bff/callback/';

/**
 * The sign-in route of a `GET` request's raw target, if it is one of the plain forms:
 * `/bff/login[?…]` and `/bff/callback/<tenant>/<provider>[?…]` (two non-empty segments of
 * unreserved characters: nothing to decode). Anything else is left to Express.
 */
export function signInTarget(
  method: string | undefined,
  url: string | undefined,
): SignInTarget | undefined {
  if (method !== 'GET' || url === undefined || !url.startsWith('/bff/')) return undefined;
  if (url.startsWith(LOGIN) && (url.length === LOGIN.length || url[LOGIN.length] === '?')) {
    return { route: 'login' };
  }
  if (!url.startsWith(CALLBACK)) return undefined;
  const query = url.indexOf('?', CALLBACK.length);
  const path = url.slice(CALLBACK.length, query === -1 ? undefined : query);
  const slash = path.indexOf('/');
  if (slash === -1) return undefined;
  const tenant = path.slice(0, slash);
  const provider = path.slice(slash + 1);
  if (!SEGMENT.test(tenant) || !SEGMENT.test(provider)) return undefined;
  return { route: 'callback', params: { tenant, provider } };
}

/**
 * A path segment that is its own route parameter as it stands: no `%` to decode, no `#`, `;`
 * or other character a URL parser might treat apart, no `/`.
 */
const SEGMENT = /^[A-Za-z0-9._~-]+$/;

/** Runs the sign-in requests it is given; answers false for any other request (Express's then). */
export type SignInRequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function signInRequestHandler(
  app: Express,
  options: {
    /** The app's middleware of these routes, in its order (each calls `next` synchronously or fails). */
    middleware: readonly RequestHandler[];
    handlers: Pick<SignInHandlers, 'login' | 'callback'>;
    /** The app's error handler. */
    onError: ErrorRequestHandler;
  },
): SignInRequestHandler {
  const login = [...options.middleware, ...options.handlers.login];
  const callback = [...options.middleware, ...options.handlers.callback];
  const { onError } = options;

  function fail(req: Request, res: Response, error: unknown): void {
    try {
      void onError(error, req, res, noop);
    } catch {
      res.destroy();
    }
  }

  return (rawReq, rawRes) => {
    const target = signInTarget(rawReq.method, rawReq.url);
    if (!target) return false;
    const [req, res] = asExpress(app, rawReq, rawRes);
    // What Express's router sets before a route's handlers run.
    req.originalUrl = rawReq.url ?? '';
    req.baseUrl = '';
    res.locals = Object.create(null) as Response['locals'];
    req.params = target.route === 'callback' ? target.params : {};
    run(req, res, target.route === 'login' ? login : callback, fail);
    return true;
  };
}

const noop = () => undefined;

/**
 * Express's layer semantics over a fixed list: each function gets `next`; `next(error)`, a
 * throw or a rejected promise goes to `fail` and ends the list.
 */
function run(
  req: Request,
  res: Response,
  layers: readonly RequestHandler[],
  fail: (req: Request, res: Response, error: unknown) => void,
): void {
  let index = 0;
  let failed = false;
  const failOnce = (error: unknown) => {
    if (failed) return;
    failed = true;
    fail(req, res, error);
  };
  const next: NextFunction = (error?: unknown) => {
    if (failed) return;
    if (error !== undefined && error !== null && error !== 'route' && error !== 'router') {
      failOnce(error);
      return;
    }
    const layer = layers[index];
    index += 1;
    // Past the handler (none calls `next`): what Express's end of the app answers.
    if (!layer) {
      failOnce(problem('not_found'));
      return;
    }
    try {
      const result: unknown = layer(req, res, next);
      if (result instanceof Promise) {
        result.catch((rejected: unknown) => failOnce(rejected ?? new Error('Rejected promise')));
      }
    } catch (error) {
      failOnce(error);
    }
  };
  next();
}
