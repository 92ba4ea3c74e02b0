import type { Logger } from 'pino';
import { describe } from './outages.ts';

/** What an audit event records; `<object>.<verb>` so that a prefix filter reads naturally. */
export const AUDIT_ACTIONS = [
  'sign-in',
  'sign-out',
  'session.ended',
  'provider.created',
  'provider.updated',
  'provider.disabled',
  'provider.deleted',
  'provider.tested',
  'provider.key-rotated',
  'provider.key-retired',
  'api-key.issued',
  'api-key.revoked',
  'tenant.created',
  'tenant.updated',
  'tenant.deleted',
  'sessions.ended',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Who acted. `user` and `tenant-admin` (signed in) carry the non-reversible digest of the
 * user's (issuer, sub) (`digest.ts` `userDigest`), `api-key` the key's public id, `provider`
 * the provider id (a back-channel logout); `system` is Gatehouse itself (a timeout, a failed
 * refresh), `anonymous` a caller not yet identified (a failed sign-in).
 */
export type AuditActor =
  | { kind: 'user'; id: string }
  | { kind: 'tenant-admin'; id: string }
  | { kind: 'api-key'; id: string }
  | { kind: 'operator' }
  | { kind: 'provider'; id: string }
  | { kind: 'system' }
  | { kind: 'anonymous' };

/** Why a session ended. */
export type SessionEndReason =
  | 'logout'
  | 'user'
  | 'idle'
  | 'absolute'
  | 'back-channel'
  | 'admin'
  | 'refresh-failure'
  | 'provider-gone'
  | 'retired-key'
  | 'unreadable';

/** Where a request came from: its request id and client address. */
export interface AuditOrigin {
  requestId?: string | undefined;
  ip?: string | undefined;
}

/** One audit event as recorded. Never a token, a secret or an email address. */
export interface AuditEvent {
  /** ISO 8601. */
  time: string;
  tenant: string;
  actor: AuditActor;
  action: AuditAction;
  /** What was acted on: `provider:<id>`, `api-key:<id>`, `session:<handle>`, `user:<digest>`… */
  target?: string | undefined;
  outcome: 'success' | 'failure';
  /** Why: a problem code for a failure, the reason a session ended. */
  reason?: string | undefined;
  requestId?: string | undefined;
  ip?: string | undefined;
}

/** An event as read back: with its position in the tenant's trail (the pagination cursor). */
export interface StoredAuditEvent extends AuditEvent {
  id: string;
}

export interface AuditQuery {
  /** Only events after this id (exclusive) or at or after this time (epoch ms). */
  since?: { id: string } | { time: number } | undefined;
  /** Only this action, or every action starting with `<prefix>.` when it ends with a dot. */
  action?: string | undefined;
  limit: number;
}

export interface AuditPage {
  events: StoredAuditEvent[];
  /** Pass as `since` for the next page; null when the trail has nothing more yet. */
  next: string | null;
}

/** Retention of a tenant's trail: at most `maxEvents` (approximately), none older than `maxAgeMs`. */
export interface AuditRetention {
  maxEvents: number;
  /** 0: no age limit. */
  maxAgeMs: number;
}

/** Where tenants' trails are kept. */
export interface AuditStore {
  append(event: AuditEvent): Promise<void>;
  read(tenant: string, query: AuditQuery): Promise<AuditPage>;
}

/** Stream ids are `<ms>-<seq>`. */
export const STREAM_ID = /^\d{1,15}-\d{1,15}$/;
export interface AuditLogOptions {
  /** The service logger: the audit lines go to its `audit` child. */
  logger: Logger;
  store: AuditStore;
  clock?: () => number;
  /** Tenants whose trail may be kept (a failed sign-in names any tenant an attacker likes). */
  isKnownTenant?: (tenant: string) => Promise<boolean>;
}

/**
 * Records audit events: each one is written at once as a line of the `audit` logger (a child
 * with `audit: true`, `log: 'audit'`) and then appended to its tenant's trail in the store. A
 * store failure never fails the action that is being audited: the event is in the log stream
 * already, and the outage is logged once when it begins (with how many events were not kept
 * when it ends), not once per event.
 */
export class AuditLog {
  readonly #log: Logger;
  readonly #service: Logger;
  readonly #store: AuditStore;
  readonly #clock: () => number;
  readonly #isKnownTenant: (tenant: string) => Promise<boolean>;
  /** Events not kept in the store since the current outage began; undefined while it works. */
  #unstored: number | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(options: AuditLogOptions) {
    this.#service = options.logger;
    // An event is an allow-list of our own fields (no token, claim or header can be in it):
    // written without the deployment's redaction paths, as the access line is.
    this.#log = options.logger.child({ audit: true, log: 'audit' }, { redact: [] });
    this.#store = options.store;
    this.#clock = options.clock ?? Date.now;
    this.#isKnownTenant = options.isKnownTenant ?? (() => Promise.resolve(true));
  }

  /** Records `event` (its time is now); never throws and never waits for the store. */
  record(event: Omit<AuditEvent, 'time'>): void {
    const full: AuditEvent = { time: new Date(this.#clock()).toISOString(), ...event };
    const { time: _time, ...line } = full;
    this.#log.info(withoutUndefined(line), `audit ${full.action} ${full.outcome}`);
    const pending = this.#keep(full);
    this.#pending.add(pending);
    void pending.finally(() => this.#pending.delete(pending));
  }

  /** Resolves when every event recorded so far has been stored or given up (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  read(tenant: string, query: AuditQuery): Promise<AuditPage> {
    return this.#store.read(tenant, query);
  }

  async #keep(event: AuditEvent): Promise<void> {
    try {
      if (!(await this.#isKnownTenant(event.tenant))) return;
      await this.#store.append(event);
    } catch (error) {
      if (this.#unstored === undefined) {
        this.#unstored = 0;
        this.#service.error(
          { reason: describe(error) },
          'audit trail store unavailable: events are only in the audit log stream until it answers',
        );
      }
      this.#unstored += 1;
      return;
    }
    if (this.#unstored !== undefined) {
      this.#service.info(
        { unstored: this.#unstored },
        'audit trail store available again; the events in between are only in the audit log stream',
      );
      this.#unstored = undefined;
    }
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
