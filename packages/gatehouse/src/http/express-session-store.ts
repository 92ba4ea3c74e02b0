import session from 'express-session';
import type { SessionData } from 'express-session';
import type { SessionRecord } from '../session/model.ts';
import type { SessionStore } from '../session/session-store.ts';

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
