import type { AuditEventView, GatehouseClient } from '@gatehouse/client';
import { useCallback, useEffect, useState } from 'react';
import { describeProblem, formatDateTime } from '../../format.ts';
import { Notice } from '../Notice.tsx';

const PAGE = 50;

/** The tenant's audit trail, oldest first, a page at a time. */
export function AuditTab({ client, tenant }: { client: GatehouseClient; tenant: string }) {
  const [events, setEvents] = useState<AuditEventView[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);

  const loadPage = useCallback(
    (since: string | undefined) =>
      client.admin
        .auditTrail(tenant, { limit: PAGE, ...(since === undefined ? {} : { since }) })
        .then(
          (page) => {
            setEvents((previous) =>
              since === undefined ? page.events : [...(previous ?? []), ...page.events],
            );
            setNext(page.events.length < PAGE ? null : page.next);
            setError(undefined);
          },
          (failure: unknown) =>
            setError(`Could not load the audit trail: ${describeProblem(failure)}`),
        )
        .finally(() => setLoading(false)),
    [client, tenant],
  );

  useEffect(() => {
    void loadPage(undefined);
  }, [loadPage]);

  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit trail</h2>
      <p className="lead">
        Who changed what in this organisation, and every sign-in, oldest first.
      </p>
      {error !== undefined && (
        <Notice
          tone="error"
          testId="audit-error"
          onRetry={() => {
            setLoading(true);
            void loadPage(undefined);
          }}
        >
          {error}
        </Notice>
      )}
      {events === undefined && error === undefined && <p role="status">Loading events…</p>}
      {events !== undefined && events.length === 0 && <p>Nothing recorded yet.</p>}
      {events !== undefined && events.length > 0 && (
        <ol className="audit" data-testid="audit-events" aria-label="Audit events">
          {events.map((event) => (
            <li
              key={event.id}
              className={`audit__event${event.outcome === 'failure' ? ' audit__event--failed' : ''}`}
              data-testid="audit-event"
              data-action={event.action}
            >
              <span className="audit__time">{formatDateTime(event.time)}</span>
              <span className="audit__what">
                <strong>{event.action}</strong>
                {event.target !== undefined && <span className="mono"> {event.target}</span>}
                {event.outcome === 'failure' ? ' failed' : ''}
                {event.reason !== undefined && <span className="muted"> ({event.reason})</span>}
              </span>
              <span className="audit__who muted">
                {event.actor.kind}
                {event.actor.id !== undefined ? ` ${event.actor.id.slice(0, 12)}` : ''}
              </span>
            </li>
          ))}
        </ol>
      )}
      {next !== null && (
        <button
          type="button"
          className="button--secondary"
          disabled={loading}
          onClick={() => {
            setLoading(true);
            void loadPage(next);
          }}
        >
          Load more
        </button>
      )}
    </section>
  );
}
