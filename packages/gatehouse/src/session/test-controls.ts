import type { Clock } from '../clock.ts';
import { problem } from '../errors.ts';
import { sleep } from './lock.ts';
import type { SessionRecord } from './model.ts';
import type { SessionService } from './service.ts';

/** The longest outage a test may simulate (ten minutes). */
export const MAX_SIMULATED_OUTAGE_MS = 600_000;

/** How long a test control waits for the session's lock (a refresh in flight) before 503. */
const LOCK_WAIT_MS = 5_000;
const LOCK_POLL_MS = 25;

/** Which dependency a simulated outage stands for. */
export type SimulatedOutage = 'idp' | 'store';

/** Whether Gatehouse is to answer for this session as if its IdP were down. */
export function idpOutageSimulated(record: SessionRecord | undefined, now: number): boolean {
  return (record?.testFaults?.idpUntilMs ?? 0) > now;
}

/** Whether Gatehouse is to answer for this session as if the session store were down. */
export function storeOutageSimulated(record: SessionRecord | undefined, now: number): boolean {
  return (record?.testFaults?.storeUntilMs ?? 0) > now;
}

/**
 * The session lifecycle controls for end-to-end tests (`testControls`, development mode only).
 * Each acts on one session, the caller's own, through the same locked read-modify-write as a
 * refresh, and only ever brings an end, an expiry or a failure forward: nothing here extends a
 * session, grants a token or skips a check.
 */
export class SessionTestControls {
  readonly #sessions: SessionService;
  readonly #clock: Clock;

  constructor(options: { sessions: SessionService; clock: Clock }) {
    this.#sessions = options.sessions;
    this.#clock = options.clock;
  }

  /** The access tokens (default and per resource) count as expired: the next API call refreshes. */
  async expireAccessToken(sessionId: string): Promise<SessionRecord> {
    return this.#update(sessionId, (record) => ({
      ...record,
      accessTokenExpiresAtMs: 0,
      ...(record.resourceTokens
        ? {
            resourceTokens: Object.fromEntries(
              Object.entries(record.resourceTokens).map(([resource, token]) => [
                resource,
                { ...token, expiresAtMs: 0 },
              ]),
            ),
          }
        : {}),
    }));
  }

  /**
   * The session reaches its absolute timeout now: the next request that uses it ends it with
   * `401 session_expired`, as a real timeout would.
   */
  async expireSession(sessionId: string): Promise<SessionRecord> {
    const now = this.#clock();
    return this.#update(sessionId, (record) => ({ ...record, absoluteExpiresAtMs: now - 1 }));
  }

  /** For `ms`, Gatehouse answers this session as if the IdP, or the store, were down. */
  async simulateOutage(sessionId: string, outage: SimulatedOutage, ms: number): Promise<number> {
    const until = this.#clock() + Math.min(Math.max(0, ms), MAX_SIMULATED_OUTAGE_MS);
    await this.#update(sessionId, (record) => ({
      ...record,
      testFaults: {
        ...record.testFaults,
        ...(outage === 'idp' ? { idpUntilMs: until } : { storeUntilMs: until }),
      },
    }));
    return until;
  }

  async #update(
    sessionId: string,
    mutate: (record: SessionRecord) => SessionRecord,
  ): Promise<SessionRecord> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      const updated = await this.#sessions.tryUpdate(sessionId, mutate);
      if (updated === null) throw problem('session_expired');
      if (updated) return updated;
      if (Date.now() > deadline) throw problem('refresh_busy');
      await sleep(LOCK_POLL_MS);
    }
  }
}
