import type { Explanation } from '../messages.ts';

/**
 * A failure in words: what happened, what to do, "Try again" when retrying helps, and the raw
 * code and status only inside a "Details" disclosure.
 */
export function ProblemNotice(props: {
  explanation: Explanation;
  testId: string;
  /** Names what failed ("Could not load your sessions."); the explanation follows it. */
  context?: string;
  onRetry?: () => void;
  /** `alert` (default) interrupts the screen reader; `status` waits its turn. */
  role?: 'alert' | 'status';
}) {
  const { explanation, context, onRetry } = props;
  return (
    <div role={props.role ?? 'alert'} className="notice notice--error" data-testid={props.testId}>
      <p className="notice__title">{context ?? explanation.title}</p>
      <p>
        {context === undefined
          ? explanation.message
          : `${explanation.title} ${explanation.message}`}
      </p>
      {explanation.retry && onRetry !== undefined && (
        <div className="notice__actions">
          <button type="button" className="button--secondary button--small" onClick={onRetry}>
            Try again
          </button>
        </div>
      )}
      {explanation.code !== undefined && (
        <details className="details">
          <summary>Details</summary>
          <dl className="kv">
            <dt>Code</dt>
            <dd>
              <code>{explanation.code}</code>
            </dd>
            {explanation.status !== undefined && explanation.status !== 0 && (
              <>
                <dt>Status</dt>
                <dd>{explanation.status}</dd>
              </>
            )}
          </dl>
        </details>
      )}
    </div>
  );
}
