const MAX_RETURN_TO_LENGTH = 2048;
// C0 controls, DEL and backslash: browsers strip or reinterpret them (`/\evil` is `//evil`).
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f\\]/;

/**
 * The `returnTo` to hand to `/bff/login`: a path starting with exactly one `/`, else `/`.
 * Only a first filter against obvious open redirects; the server validates it properly again.
 */
export function safeReturnTo(value: string | null | undefined): string {
  if (typeof value !== 'string' || value.length > MAX_RETURN_TO_LENGTH) return '/';
  if (!value.startsWith('/') || value.startsWith('//') || UNSAFE_CHARACTERS.test(value)) {
    return '/';
  }
  return value;
}
