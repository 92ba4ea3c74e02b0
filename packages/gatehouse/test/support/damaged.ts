/**
 * A compact JWE with the first character of its ciphertext changed: still well-formed, under
 * the same `kid`, but its AES-GCM integrity check fails (bytes altered in the store).
 */
export function damaged(sealed: string): string {
  const parts = sealed.split('.');
  const ciphertext = parts[3] ?? '';
  parts[3] = (ciphertext.startsWith('A') ? 'B' : 'A') + ciphertext.slice(1);
  return parts.join('.');
}
