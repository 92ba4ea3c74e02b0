/** Shown when the session ended on its own (expiry, revocation), not by the user's logout. */
export function SessionEndedBanner({ onSignIn }: { onSignIn: () => void }) {
  return (
    <div role="alert" className="banner banner--ended" data-testid="session-ended">
      <p>
        <strong>Your session has ended.</strong> Sign in again to pick up where you left off.
      </p>
      <button type="button" onClick={onSignIn}>
        Sign in again
      </button>
    </div>
  );
}
