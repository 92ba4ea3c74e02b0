import type { DevIdpUser } from './realms.ts';

/** At most this many users per realm: users made on the fly live in memory until the IdP stops. */
export const MAX_USERS_PER_REALM = 10_000;

/** Claims an access token gets from the IdP itself; a user's own claims never replace them. */
const RESERVED_TOKEN_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'scope',
  'client_id',
  'auth_time',
  'acr',
  'amr',
  'azp',
  'sid',
  'cnf',
  'nonce',
  'at_hash',
  'c_hash',
  's_hash',
  'events',
]);

/** The users of one realm: the configured ones, and those the control API adds (tests only). */
export class UserDirectory {
  readonly #users = new Map<string, DevIdpUser>();

  constructor(users: readonly DevIdpUser[]) {
    for (const user of users) this.#users.set(user.id, user);
  }

  find(id: string): DevIdpUser | undefined {
    return this.#users.get(id);
  }

  has(id: string): boolean {
    return this.#users.has(id);
  }

  get size(): number {
    return this.#users.size;
  }

  /** Adds a user; false when the id is taken or the realm is full. */
  add(user: DevIdpUser): boolean {
    if (this.#users.has(user.id) || this.#users.size >= MAX_USERS_PER_REALM) return false;
    this.#users.set(user.id, user);
    return true;
  }
}

/** The user's own claims that may go into an access token (none that the IdP sets itself). */
export function accessTokenClaims(user: DevIdpUser | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(user?.claims ?? {})) {
    if (!RESERVED_TOKEN_CLAIMS.has(name)) out[name] = value;
  }
  return out;
}
