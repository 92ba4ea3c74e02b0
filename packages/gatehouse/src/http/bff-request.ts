/** Small helpers of the `/bff` routes: one value per query parameter, express-session's callbacks as promises. */
import type { Request } from 'express';
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
