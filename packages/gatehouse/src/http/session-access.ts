import { parse as parseCookies } from 'cookie';
import { unsign } from 'cookie-signature';
import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { LRUCache } from 'lru-cache';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import type { AuditOrigin } from '../observability/audit.ts';
import { openClaims, type SessionRecord } from '../session/model.ts';
import { storeOutageSimulated } from '../session/test-controls.ts';
import { UnopenableValueError, unopenableReason } from '../session/vault.ts';
import { auditOrigin } from './audit-origin.ts';

/** The session of a request, read and kept live: what it uses of the context. */
export type SessionAccessDeps = Pick<
  GatehouseContext,
  'clock' | 'config' | 'cookies' | 'metrics' | 'registry' | 'sessions' | 'testControls'
>;

/** A session read for one request: its id and its record. */
export interface RequestSession {
  sid: string;
  record: SessionRecord;
}

/**
 * Session ids already verified, per list of secrets: by the signed cookie value, and by the
 * whole `Cookie` header it came in (a browser sends the same header call after call, so most
 * requests need neither the header's parse nor the HMAC). The same string always verifies the
 * same way (the secrets are fixed for the process's life); only a verified value is added (a
 * forged one is checked again each time); both maps are bounded. The session itself is still
 * read from the store on every request: these only say which id the cookie names.
 */
interface VerifiedIds {
  bySigned: LRUCache<string, string>;
  byHeader: LRUCache<string, string>;
}
const verifiedBySecrets = new WeakMap<readonly string[], VerifiedIds>();

/** Longer `Cookie` headers are parsed each time rather than remembered. */
const MAX_REMEMBERED_HEADER = 4096;

function verifiedIds(secrets: readonly string[]): VerifiedIds {
  let verified = verifiedBySecrets.get(secrets);
  if (!verified) {
    verified = {
      bySigned: new LRUCache<string, string>({ max: 20_000 }),
      byHeader: new LRUCache<string, string>({
        max: 20_000,
        maxSize: 16 * 1024 * 1024,
        sizeCalculation: (sid, header) => header.length + sid.length,
      }),
    };
    verifiedBySecrets.set(secrets, verified);
  }
  return verified;
}

/**
 * The session id in a Cookie header, as express-session reads it: the first cookie of that name
 * (the `cookie` library's parse), `s:<id>.<signature>`, the signature checked by
 * `cookie-signature` against each secret in turn (rotation). Anything else is no session.
 */
export function sessionIdFromCookie(
  header: string | undefined,
  name: string,
  secrets: readonly string[],
): string | undefined {
  if (!header) return undefined;
  // Cheap refusal before parsing: most requests without our cookie never mention its name.
  if (!header.includes(name)) return undefined;
  // One cache per list of secrets: an instance (or test) with other secrets shares no answer.
  const verified = verifiedIds(secrets);
  const rememberHeader = header.length <= MAX_REMEMBERED_HEADER;
  if (rememberHeader) {
    const known = verified.byHeader.get(header);
    if (known !== undefined) return known;
  }
  const raw = parseCookies(header)[name];
  if (!raw?.startsWith('s:')) return undefined;
  const signed = raw.slice(2);
  let sid = verified.bySigned.get(signed);
  if (sid === undefined) {
    for (const secret of secrets) {
      const unsigned = unsign(signed, secret);
      if (unsigned !== false) {
        sid = unsigned;
        verified.bySigned.set(signed, sid);
        break;
      }
    }
  }
  if (sid !== undefined && rememberHeader) verified.byHeader.set(header, sid);
  return sid;
}

/**
 * The live session of a request, read straight from the store: one read (the same record
 * express-session reads and writes on `/bff`, through the core's `SessionStore`), and none of
 * express-session's per-request work (no session object, no change detection, no cookie
 * refresh) — for requests that never write the session through express-session: proxied API
 * calls and, for instance, a forward-auth check. A store failure throws 503 `store_unavailable`
 * (never "signed out"); an expired session or a dead provider ends it (401 `session_expired`).
 */
export async function readRequestSession(
  ctx: SessionAccessDeps,
  req: IncomingMessage,
  /** Who asked, for the audit event of a session that ends here (default: from `req`). */
  origin: () => AuditOrigin = () => auditOrigin(req as Request),
): Promise<RequestSession | undefined> {
  const sid = sessionIdFromCookie(
    req.headers.cookie,
    ctx.cookies.session,
    ctx.config.session.secrets,
  );
  if (sid === undefined) return undefined;
  const record = await ctx.sessions.read(sid);
  if (!record) return undefined;
  // Development only (`testControls`): a store outage a test control simulates for this session.
  if (ctx.testControls && storeOutageSimulated(record, ctx.clock())) {
    throw problem('store_unavailable', {
      detail: 'Session storage is unavailable (a test control); try again.',
    });
  }
  // The common case without a step of its own: live, and its provider still there.
  if (!ctx.sessions.isExpired(record) && (await ctx.registry.isSessionProviderLive(record))) {
    return { sid, record };
  }
  return { sid, record: await liveSession(ctx, origin, sid, record) };
}

/**
 * The session of this request (read by express-session) if it is still live. An idle or
 * absolute timeout ends it here (401 `session_expired`), so an expired session is never used
 * even before the store drops it.
 */
export async function activeSession(
  ctx: SessionAccessDeps,
  req: Request,
): Promise<SessionRecord | undefined> {
  const record = req.session.gh;
  if (!record) return undefined;
  return liveSession(ctx, () => auditOrigin(req), req.sessionID, record);
}

/** The record if its session is still live; otherwise the session ends here (401). */
async function liveSession(
  ctx: SessionAccessDeps,
  origin: () => AuditOrigin,
  sid: string,
  record: SessionRecord,
): Promise<SessionRecord> {
  if (ctx.sessions.isExpired(record)) {
    const idle = ctx.clock() >= ctx.sessions.idleExpiresAt(record);
    // Counted by the request that ended it (others may have found it expired at the same moment).
    const ended = await ctx.sessions.end(sid, record, {
      reason: idle ? 'idle' : 'absolute',
      ...origin(),
    });
    if (ended) ctx.metrics.sessionsEnded(idle ? 'idle' : 'absolute');
    throw problem('session_expired');
  }
  // A deleted, disabled or re-pointed provider ends its sessions (from the in-process registry
  // view: no store read at steady state).
  if (!(await ctx.registry.isSessionProviderLive(record))) {
    const ended = await ctx.sessions.end(sid, record, {
      reason: 'provider-gone',
      ...origin(),
    });
    if (ended) ctx.metrics.sessionsEnded('provider_removed');
    throw problem('session_expired', {
      detail: 'The sign-in provider of this session is no longer available.',
    });
  }
  return record;
}

/**
 * The identity claims of this request's session, opened. Claims sealed under an encryption key
 * that is no longer configured (retired after a rotation), or damaged, can never be opened again
 * by any instance: the session ends here (401 `session_expired`, the user signs in again), as it
 * does when its tokens are found so, rather than failing every call with a 500.
 */
export async function sessionClaims(
  ctx: Pick<SessionAccessDeps, 'metrics' | 'sessions'> & Pick<GatehouseContext, 'vault'>,
  req: Request,
  { sid, record }: RequestSession,
): Promise<Record<string, unknown>> {
  try {
    return await openClaims(ctx.vault, record);
  } catch (error) {
    if (!(error instanceof UnopenableValueError)) throw error;
    return endUnopenableSession(ctx, sid, record, error, auditOrigin(req));
  }
}

/**
 * Ends a session a value of which no instance can open again (sealed under a retired encryption
 * key, or damaged under a key this instance shares with the fleet) and throws 401
 * `session_expired`: the user signs in again, never a 500. Counted once, by the request that
 * ended it.
 */
export async function endUnopenableSession(
  ctx: Pick<SessionAccessDeps, 'metrics' | 'sessions'>,
  sid: string,
  record: SessionRecord,
  cause: UnopenableValueError,
  origin: AuditOrigin = {},
): Promise<never> {
  const reason = unopenableReason(cause);
  if (await ctx.sessions.end(sid, record, { reason, ...origin }))
    ctx.metrics.sessionsEnded(reason === 'retired-key' ? 'retired_key' : 'unreadable');
  throw problem('session_expired', { cause });
}

/** Moves the idle deadline forward at most once per slide interval: one write every few minutes. */
export async function slideIfDue(
  ctx: SessionAccessDeps,
  req: Request,
  record: SessionRecord,
): Promise<SessionRecord> {
  return slideSessionIfDue(ctx, req.sessionID, record);
}

/** Whether {@link slideSessionIfDue} would write: the idle deadline is due to move forward. */
export function slideDue(
  ctx: Pick<SessionAccessDeps, 'clock' | 'sessions'>,
  record: SessionRecord,
): boolean {
  return ctx.clock() - record.lastSeenAtMs >= ctx.sessions.slideIntervalMs(record);
}

/** {@link slideIfDue} for a session read by {@link readRequestSession}. */
export async function slideSessionIfDue(
  ctx: SessionAccessDeps,
  sid: string,
  record: SessionRecord,
): Promise<SessionRecord> {
  if (!slideDue(ctx, record)) return record;
  const now = ctx.clock();
  const updated = await ctx.sessions.tryUpdate(sid, (current) => ({
    ...current,
    lastSeenAtMs: now,
  }));
  if (updated === null) throw problem('session_expired');
  return updated ?? record;
}
