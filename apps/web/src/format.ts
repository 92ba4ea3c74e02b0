import { GatehouseProblem } from '@gatehouse/client';
import type { GatehouseUser } from '@gatehouse/client';

/** The friendliest name the claims offer, falling back to the subject. */
export function displayName(user: GatehouseUser): string {
  const { name, preferred_username: username, email, sub } = user.claims;
  for (const candidate of [name, username, email]) {
    if (typeof candidate === 'string' && candidate.trim() !== '') return candidate;
  }
  return sub;
}

/** A local date and time, or the raw text when it is not a date. */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Claim values as text: strings as they are, everything else as JSON. */
export function formatClaim(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
}

/** One line for a failed call, for people: "503 Session storage unavailable (store_unavailable)". */
export function describeProblem(error: unknown): string {
  // A rate limit: say what to do, in words (the answer's Retry-After is at most a few minutes).
  if (
    error instanceof GatehouseProblem &&
    (error.code === 'rate_limited' || error.status === 429)
  ) {
    return 'Too many requests from your network right now. Wait a minute, then try again.';
  }
  if (error instanceof GatehouseProblem) {
    const status = error.status === 0 ? '' : `${error.status} `;
    return `${status}${error.title} (${error.code})`;
  }
  return error instanceof Error ? error.message : 'Unknown error';
}
