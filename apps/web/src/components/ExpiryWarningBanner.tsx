import { useState } from 'react';
import { explainProblem, type Explanation } from '../messages.ts';
import { ProblemNotice } from './ProblemNotice.tsx';

/**
 * Counts down to the session's end; "Stay signed in" slides the session via `refresh()`.
 * The visible countdown changes every second and is NOT a live region; a separate polite status
 * says it in words only when the minute changes (and under a minute), so a screen reader hears
 * a few announcements, not one per second.
 */
export function ExpiryWarningBanner(props: {
  secondsLeft: number;
  onStay: () => Promise<unknown>;
}) {
  const [error, setError] = useState<Explanation | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  function stay(): void {
    setBusy(true);
    setError(undefined);
    props
      .onStay()
      .catch((e: unknown) => setError(explainProblem(e)))
      .finally(() => setBusy(false));
  }

  return (
    <div className="banner banner--warning" data-testid="expiry-warning">
      <p>
        Your session expires in{' '}
        <span className="countdown" aria-hidden="true" data-testid="expiry-countdown">
          {clock(props.secondsLeft)}
        </span>
        <span className="visually-hidden">{inWords(props.secondsLeft)}</span>
      </p>
      <span role="status" className="visually-hidden" data-testid="expiry-announcement">
        {`Your session expires in ${inWords(props.secondsLeft)}.`}
      </span>
      <button type="button" onClick={stay} disabled={busy}>
        Stay signed in
      </button>
      {error !== undefined && (
        <div className="banner__error">
          <ProblemNotice
            explanation={error}
            testId="expiry-error"
            context="Could not extend your session."
            onRetry={stay}
          />
        </div>
      )}
    </div>
  );
}

/** "1:05". */
function clock(seconds: number): string {
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** Coarse on purpose: it changes a handful of times, not every second. */
export function inWords(seconds: number): string {
  if (seconds > 60) {
    const minutes = Math.ceil(seconds / 60);
    return `about ${minutes} minutes`;
  }
  if (seconds > 30) return 'less than a minute';
  if (seconds > 0) return 'less than 30 seconds';
  return 'a moment';
}
