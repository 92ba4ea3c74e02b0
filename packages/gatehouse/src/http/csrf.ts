import type { RequestHandler } from 'express';
import { problem } from '../errors.ts';

/**
 * CSRF defence for the API proxy and state-changing BFF calls: the custom header `X-CSRF: 1`
 * (a cross-site form or image cannot set it, and a cross-site fetch that sets it needs a CORS
 * preflight we never grant), plus refusing any foreign `Origin` or `Sec-Fetch-Site: cross-site`.
 */
export function requireCsrfHeader(publicOrigin: string): RequestHandler {
  return (req, _res, next) => {
    if (req.get('x-csrf') !== '1') return next(problem('csrf_header_required'));
    const origin = req.get('origin');
    if (origin !== undefined && origin !== publicOrigin) {
      return next(problem('foreign_origin'));
    }
    if (req.get('sec-fetch-site') === 'cross-site') {
      return next(problem('foreign_origin'));
    }
    next();
  };
}
