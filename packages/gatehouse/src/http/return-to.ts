import { badRequest } from '../errors.ts';

const MAX_LENGTH = 2048;
// C0 controls, DEL, and the backslash browsers treat as a slash.
const FORBIDDEN_CHARACTERS = /[\u0000-\u001f\u007f\\]/;

/**
 * Validates a post-login (or post-logout) target: it must be a same-origin path. Parsing against
 * our own origin and comparing origins catches what prefix checks miss (`//evil`, `/\evil`,
 * `https:evil`, tabs and newlines browsers strip); an encoded slash or control character is
 * refused too, because some layer downstream may decode it once.
 *
 * @returns the normalised path (`pathname + search + hash`), `'/'` when `value` is absent.
 * @throws GatehouseError 400 `invalid_return_to`
 */
export function validateReturnTo(value: unknown, publicOrigin: string): string {
  if (value === undefined || value === '') return '/';
  const invalid = () => badRequest('invalid_return_to', 'returnTo must be a path on this site.');
  if (typeof value !== 'string' || value.length > MAX_LENGTH) throw invalid();
  if (FORBIDDEN_CHARACTERS.test(value)) throw invalid();
  if (!value.startsWith('/') || value.startsWith('//')) throw invalid();

  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    throw invalid();
  }
  if (FORBIDDEN_CHARACTERS.test(decoded) || decoded.startsWith('//')) throw invalid();

  let url: URL;
  try {
    url = new URL(value, publicOrigin);
  } catch {
    throw invalid();
  }
  if (url.origin !== new URL(publicOrigin).origin) throw invalid();
  if (url.username || url.password) throw invalid();
  return `${url.pathname}${url.search}${url.hash}`;
}
