/** Small helpers of the `/bff` routes: one value per query parameter, express-session's callbacks as promises. */
import type { Request, Response } from 'express';
import { problem } from '../errors.ts';

/** Query parameters must be single strings: `returnTo[]=…` or a repeated key is refused. */
export function singleQueryValue(req: Request, name: string): string | undefined {
  const value: unknown = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw problem('invalid_parameter', { detail: `The "${name}" parameter must appear once.` });
  return value;
}

export const promisify = (fn: (cb: (err?: unknown) => void) => void) =>
  new Promise<void>((resolve, reject) =>
    fn((err) =>
      err ? reject(err instanceof Error ? err : new Error('session operation failed')) : resolve(),
    ),
  );

/**
 * A redirect with an empty body: Express's `res.redirect` writes the URL into the body too (an
 * end-session URL carries the ID token as `id_token_hint`), and an empty body is cheaper.
 */
export function redirectWithoutBody(res: Response, status: 302 | 303, url: string): void {
  res.status(status).location(url).end();
}
