import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 of the parts (joined by newlines), base64url: for index keys, hashed secrets, subjects. */
export function sha256(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64url');
}

/**
 * Compares two secrets in constant time: both are hashed first, so neither their lengths nor
 * the position of a first difference shows in the timing.
 */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(
    createHash('sha256').update(a).digest(),
    createHash('sha256').update(b).digest(),
  );
}

/**
 * The non-reversible handle of a user: SHA-256 of the IdP's (issuer, sub). Names the user's
 * session index, the actor of audit events and the `user` of access-log lines, and is all a
 * session record keeps of the subject in clear.
 */
export function userDigest(issuer: string, sub: string): string {
  return sha256(issuer, sub);
}
