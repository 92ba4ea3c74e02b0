import { useState } from 'react';
import { describeProblem } from '../format.ts';

/** Counts down to the session's end; "Stay signed in" slides the session via `refresh()`. */
export function ExpiryWarningBanner(props: {
  secondsLeft: number;
  onStay: () => Promise<unknown>;
}) {
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  function stay(): void {
    setBusy(true);
    setError(undefined);
    props
      .onStay()
      .catch((e: unknown) => setError(describeProblem(e)))
      .finally(() => setBusy(false));
  }

  return (
    <div role="status" className="banner banner--warning" data-testid="expiry-warning">
      <p>{`Your session expires in ${props.secondsLeft} s`}</p>
      <button type="button" onClick={stay} disabled={busy}>
        Stay signed in
      </button>
      {error !== undefined && <p className="banner__error">Could not extend: {error}</p>}
    </div>
  );
}
