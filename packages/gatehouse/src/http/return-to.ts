import { problem } from '../errors.ts';

const MAX_LENGTH = 2048;
/** How many rounds of percent-decoding a path may take before we call it hostile. */
const MAX_DECODE_DEPTH = 3;
// Anywhere in the value: C0 controls and DEL (browsers strip tab/newline, CR/LF split headers)
// and the backslash browsers treat as a slash.
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const FORBIDDEN_RAW = /[\u0000-\u001f\u007f\\]/;
// In the path, at every decoding depth: the above, C1 controls, invisible, bidi and line-separator
// code points, and slash look-alikes that a normalising layer may fold into `/` or `\`.
const FORBIDDEN_IN_PATH =
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  /[\u0000-\u001f\u007f-\u009f\\\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2044\u2060-\u206f\u2215\u2216\u29f8\u29f9\ufe68\ufeff\uff0f\uff3c]/;

const invalidReturnTo = () => problem('invalid_return_to');

/**
 * Validates a post-login (or post-logout) target: it must be a same-origin path. Parsing against
 * our own origin and comparing origins catches what prefix checks miss (`//evil`, `/\evil`,
 * `https:evil`, tabs and newlines browsers strip). The path is checked again after every round
 * of percent-decoding (some layer downstream may decode it) and after the URL parser removed dot
 * segments (`/.//evil` normalises to `//evil`). Query and fragment may carry any encoded content:
 * they cannot change the origin.
 *
 * @returns the normalised path (`pathname + search + hash`), `'/'` when `value` is absent.
 * @throws GatehouseError 400 `invalid_return_to`
 * @example
 * validateReturnTo('/dashboard?tab=2', 'https://app.example.com'); // '/dashboard?tab=2'
 */
export function validateReturnTo(value: unknown, publicOrigin: string): string {
  if (value === undefined || value === '') return '/';
  if (typeof value !== 'string' || value.length > MAX_LENGTH || FORBIDDEN_RAW.test(value)) {
    throw invalidReturnTo();
  }
  const origin = new URL(publicOrigin).origin;
  assertSafePath(rawPathOf(value), origin);

  const url = parseAgainst(value, origin);
  if (!url || url.origin !== origin || url.username || url.password) throw invalidReturnTo();
  // What the browser receives is the normalised form: check that one too.
  assertSafePath(url.pathname, origin);
  return `${url.pathname}${url.search}${url.hash}`;
}

function rawPathOf(value: string): string {
  const end = value.search(/[?#]/);
  return end === -1 ? value : value.slice(0, end);
}

function parseAgainst(value: string, origin: string): URL | undefined {
  try {
    return new URL(value, origin);
  } catch {
    return undefined;
  }
}

/** The path, and each percent-decoding of it, must be a single-slash same-origin path. */
function assertSafePath(path: string, origin: string): void {
  let current = path;
  for (let depth = 0; ; depth++) {
    assertPathForm(current, origin);
    assertPathForm(current.normalize('NFKC'), origin);
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      // Malformed escapes in what we were given are refused; deeper down, nothing can decode further.
      if (depth === 0) throw invalidReturnTo();
      return;
    }
    if (next === current) return;
    if (depth === MAX_DECODE_DEPTH) throw invalidReturnTo();
    current = next;
  }
}

function assertPathForm(path: string, origin: string): void {
  if (FORBIDDEN_IN_PATH.test(path) || !path.startsWith('/') || path.startsWith('//')) {
    throw invalidReturnTo();
  }
  const url = parseAgainst(path, origin);
  if (!url || url.origin !== origin || url.pathname.startsWith('//')) throw invalidReturnTo();
}
