import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import { type GatehouseError, problem } from '../errors.ts';

/**
 * CSRF defence for the API proxy and state-changing BFF calls: the custom header `X-CSRF: 1`
 * (a cross-site form or image cannot set it, and a cross-site fetch that sets it needs a CORS
 * preflight we never grant), plus refusing any foreign `Origin` or `Sec-Fetch-Site: cross-site`.
 */
export function requireCsrfHeader(publicOrigin: string): RequestHandler {
  return (req, _res, next) => {
    next(csrfHeaderRefusal(req.headers, publicOrigin));
  };
}

/**
 * The rule of {@link requireCsrfHeader} on the request's headers alone (the API proxy applies it
 * before Express is involved): the problem to answer, or undefined when the request may go on.
 */
export function csrfHeaderRefusal(
  headers: IncomingHttpHeaders,
  publicOrigin: string,
): GatehouseError | undefined {
  if (headers['x-csrf'] !== '1') return problem('csrf_header_required');
  const origin = headers.origin;
  if (origin !== undefined && origin !== publicOrigin) return problem('foreign_origin');
  if (headers['sec-fetch-site'] === 'cross-site') return problem('foreign_origin');
  return undefined;
}

/**
 * CSRF defence for `POST /bff/logout`, which is also a plain HTML form's target (a top-level
 * navigation cannot add a header). Either the `X-CSRF: 1` header as {@link requireCsrfHeader}
 * wants it, or proof that the form is our own page's:
 * - with Fetch Metadata (every current browser), `Sec-Fetch-Site: same-origin` (a sibling
 *   subdomain, `same-site`, is refused too) and an `Origin` that is ours or `null` (a page
 *   under `Referrer-Policy: no-referrer`, as Gatehouse serves them, posts its forms with
 *   `Origin: null`; the browser's `Sec-Fetch-Site` still says where the form came from);
 * - without it (older browsers), an `Origin` equal to the public origin.
 * A request with neither proof is refused.
 */
export function requireCsrfHeaderOrSameOriginForm(publicOrigin: string): RequestHandler {
  const header = requireCsrfHeader(publicOrigin);
  const refuse = (reason: string) =>
    problem('foreign_origin', { cause: new CsrfRefusal(`form post with ${reason}`) });
  return (req, res, next) => {
    if (req.get('x-csrf') !== undefined) return header(req, res, next);
    const origin = req.get('origin');
    const site = req.get('sec-fetch-site');
    if (site !== undefined) {
      if (site !== 'same-origin') return next(refuse(`Sec-Fetch-Site ${site}`));
      if (origin !== undefined && origin !== publicOrigin && origin !== 'null') {
        return next(refuse(`Origin ${origin}`));
      }
      return next();
    }
    if (origin === undefined) return next(problem('csrf_header_required'));
    if (origin !== publicOrigin) return next(refuse(`Origin ${origin}`));
    next();
  };
}

/** Why a state-changing request was refused as cross-site (for the access line only). */
export class CsrfRefusal extends Error {
  constructor(reason: string) {
    // A header value a client chose: only so much of it goes into a log line.
    super(reason.slice(0, 200));
    this.name = 'CsrfRefusal';
  }
}
