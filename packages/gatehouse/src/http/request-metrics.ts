import { performance } from 'node:perf_hooks';
import type { Request, RequestHandler, Response } from 'express';
import type { Metrics } from '../observability/metrics.ts';
import { apiRouteSlot } from './request-state.ts';

const STARTED = Symbol('gatehouse.metrics.started');
type Timed = Response & { [STARTED]?: number };

/**
 * Counts and times every answer by route class, method and status once it is done (or the
 * client went away): one listener per request, label children cached by the metrics object, no
 * raw path in a label. Nothing at all when metrics are off.
 */
export function requestMetrics(metrics: Metrics): RequestHandler {
  if (!metrics.enabled) return (_req, _res, next) => next();
  function onClose(this: Timed): void {
    const startedAt = this[STARTED] ?? performance.now();
    const status = this.writableFinished ? this.statusCode : undefined;
    metrics.httpRequest(
      routeClass(this.req, this),
      this.req.method,
      status,
      (performance.now() - startedAt) / 1000,
    );
  }
  return (_req, res: Timed, next) => {
    res[STARTED] = performance.now();
    res.once('close', onClose);
    next();
  };
}

/** `bff`, `admin`, `health`, an API route's prefix, `api:other` or `static`. */
function routeClass(req: Request, res: Response): string {
  const url = req.originalUrl;
  if (url.startsWith('/api/') || url === '/api') {
    const match = apiRouteSlot.get(res);
    return match ? match.route.prefix : 'api:other';
  }
  if (url.startsWith('/bff/')) return 'bff';
  if (url.startsWith('/admin/api')) return 'admin';
  if (isProbe(url, '/healthz') || isProbe(url, '/readyz')) return 'health';
  return 'static';
}

const isProbe = (url: string, path: string) =>
  url.startsWith(path) && (url.length === path.length || url[path.length] === '?');
