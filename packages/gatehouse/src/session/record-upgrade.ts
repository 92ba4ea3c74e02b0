import type { ResourceToken, SessionRecord } from './model.ts';

/**
 * A session record as written before version 2: the access tokens' expiries in epoch seconds,
 * every other time in epoch milliseconds without the unit in its name, and `sid` for the IdP's
 * session id. Sessions signed in before an upgrade keep working: they are read through
 * {@link upgradeSessionRecord}, and written back in the new shape at their next write.
 */
interface SessionRecordV1 extends Omit<
  SessionRecord,
  | 'v'
  | 'idpSid'
  | 'accessTokenExpiresAtMs'
  | 'resourceTokens'
  | 'createdAtMs'
  | 'lastSeenAtMs'
  | 'absoluteExpiresAtMs'
  | 'refreshExpiresAtMs'
  | 'testFaults'
> {
  v: 1;
  sid?: string;
  /** Epoch seconds. */
  accessTokenExpiresAt: number;
  /** `expiresAt` in epoch seconds. */
  resourceTokens?: Record<string, { token: string; expiresAt: number }>;
  createdAt: number;
  lastSeenAt: number;
  absoluteExpiresAt: number;
  refreshExpiresAt?: number;
  testFaults?: { idpUntil?: number; storeUntil?: number };
}

const SECOND_MS = 1000;

/**
 * The stored `gh` value as a current {@link SessionRecord}: a version 2 record as it is, a
 * version 1 record converted (times to epoch ms with `Ms` names, `sid` to `idpSid`; other
 * fields, such as the claims of a record older still, kept as they are). Anything else is no
 * session (undefined).
 */
export function upgradeSessionRecord(stored: unknown): SessionRecord | undefined {
  if (typeof stored !== 'object' || stored === null) return undefined;
  const version = (stored as { v?: unknown }).v;
  if (version === 2) return stored as SessionRecord;
  if (version !== 1) return undefined;
  const {
    v: _v,
    sid,
    accessTokenExpiresAt,
    resourceTokens,
    createdAt,
    lastSeenAt,
    absoluteExpiresAt,
    refreshExpiresAt,
    testFaults,
    ...unchanged
  } = stored as SessionRecordV1;
  return {
    ...unchanged,
    v: 2,
    ...(sid !== undefined ? { idpSid: sid } : {}),
    accessTokenExpiresAtMs: accessTokenExpiresAt * SECOND_MS,
    ...(resourceTokens
      ? {
          resourceTokens: Object.fromEntries(
            Object.entries(resourceTokens).map(([resource, { token, expiresAt }]) => [
              resource,
              { token, expiresAtMs: expiresAt * SECOND_MS } satisfies ResourceToken,
            ]),
          ),
        }
      : {}),
    createdAtMs: createdAt,
    lastSeenAtMs: lastSeenAt,
    absoluteExpiresAtMs: absoluteExpiresAt,
    ...(refreshExpiresAt !== undefined ? { refreshExpiresAtMs: refreshExpiresAt } : {}),
    ...(testFaults
      ? {
          testFaults: {
            ...(testFaults.idpUntil !== undefined ? { idpUntilMs: testFaults.idpUntil } : {}),
            ...(testFaults.storeUntil !== undefined ? { storeUntilMs: testFaults.storeUntil } : {}),
          },
        }
      : {}),
  };
}
