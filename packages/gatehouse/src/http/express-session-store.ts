import { randomBytes } from 'node:crypto';
import { serialize } from 'cookie';
import { sign } from 'cookie-signature';
import session from 'express-session';
import type { CookieOptions, SessionData } from 'express-session';
import type { SessionRecord } from '../session/model.ts';
import type { SessionStore, StoredSession } from '../session/session-store.ts';

declare module 'express-session' {
  interface SessionData {
    /** Gatehouse's session record (the core's `SessionStore` reads and writes only this key). */
    gh?: SessionRecord;
  }
}

type Callback = (err?: unknown) => void;

/**
 * express-session's `Store` over the core's {@link SessionStore}: the same documents, keys and
 * TTLs for express-session on `/bff` as for the core's reads and conditional writes (and, in
 * Redis, as connect-redis's). Failures are already problems (the store port's decorator), passed
 * to express-session as they are. Touch writes nothing: sliding is explicit in Gatehouse
 * (`lastSeenAtMs`), so a request that changes nothing costs one read.
 */
export class ExpressSessionStore extends session.Store {
  readonly #sessions: SessionStore;

  constructor(sessions: SessionStore) {
    super();
    this.#sessions = sessions;
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    this.#sessions.load(sid).then(
      (stored) => callback(undefined, stored as SessionData | undefined),
      (error: unknown) => callback(error),
    );
  }

  override set(sid: string, data: SessionData, callback?: Callback): void {
    this.#sessions.save(sid, data).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  }

  override destroy(sid: string, callback?: Callback): void {
    this.#sessions.delete(sid).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  }

  override touch(_sid: string, _data: SessionData, callback?: () => void): void {
    queueMicrotask(() => callback?.());
  }
}

/**
 * The session cookie's attributes (besides its lifetime): HttpOnly, `SameSite=Strict`, the whole
 * origin, Secure over https. express-session sets them (`http/app.ts`), and so does
 * {@link newSignedInSession}.
 */
export function sessionCookieOptions(secure: boolean) {
  return { httpOnly: true, secure, sameSite: 'strict', path: '/' } as const satisfies CookieOptions;
}

/** A new session as express-session would write it: its id, stored document and cookie. */
export interface NewSession {
  /** A fresh id: 24 random bytes, base64url (what express-session's default generator makes). */
  id: string;
  /** The document to store: the record beside express-session's `cookie`. */
  stored: StoredSession;
  /** The `Set-Cookie` value: the id signed with the first secret, express-session's attributes. */
  setCookie: string;
}

/**
 * The signed-in session of a callback, made without express-session: the same id format,
 * document (the `cookie` express-session keeps beside the record: it needs it to load the
 * session on later requests) and signed cookie (`s:<id>.<HMAC>`, `cookie-signature` with the
 * first secret, as express-session signs it), so that express-session on `/bff` and the direct
 * read of `/api` take it like one express-session wrote. The callback then writes it once,
 * where express-session would have written it twice (its own save at the answer's end comes
 * after the explicit one that turns a store failure into a 503) and, first, deleted the
 * browser's pre-login session id that was never stored.
 *
 * @example
 * const created = newSignedInSession(record, { name: 'gatehouse', secrets, secure: false, maxAgeMs });
 * await sessionStore.save(created.id, created.stored);
 * res.append('set-cookie', created.setCookie);
 */
export function newSignedInSession(
  record: SessionRecord,
  options: { name: string; secrets: readonly string[]; secure: boolean; maxAgeMs: number },
): NewSession {
  const secret = options.secrets[0];
  if (secret === undefined) throw new Error('a session secret is required');
  const id = randomBytes(24).toString('base64url');
  const attributes = sessionCookieOptions(options.secure);
  const expires = new Date(Date.now() + options.maxAgeMs);
  // express-session's Cookie#toJSON, in its order (undefined attributes drop out of the JSON).
  const cookie = { originalMaxAge: options.maxAgeMs, expires, ...attributes };
  return {
    id,
    stored: { cookie, gh: record } as StoredSession,
    setCookie: serialize(options.name, `s:${sign(id, secret)}`, { ...attributes, expires }),
  };
}
