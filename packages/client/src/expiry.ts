/** setTimeout's delay is a signed 32-bit number of milliseconds; longer delays fire at once. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
/** Re-check a little after the expiry instant so the server agrees the session is over. */
const EXPIRY_CHECK_GRACE_MS = 1_000;
/**
 * When the server still says the same expiry (the browser clock runs ahead) or cannot be asked
 * (network, 5xx), ask again later, backing off: the tab must not stay "signed in" for good.
 */
const RECHECK_BACKOFF_MS = [2_000, 5_000, 15_000, 60_000];

export interface ExpiryWatch {
  /** Arms the warning and the expiry check for this `expiresAt` (ISO); `undefined` disarms. */
  watch(expiresAt: string | undefined): void;
  onWarning(listener: (secondsLeft: number) => void): () => void;
  stop(): void;
}

/**
 * Watches one session expiry time: warns `warningSeconds` before it (once per expiry value, so a
 * re-check that returns the same time does not warn twice) and calls `onExpired` once it passes.
 */
export function createExpiryWatch(options: {
  warningSeconds: number;
  onExpired: () => void;
}): ExpiryWatch {
  const listeners = new Set<(secondsLeft: number) => void>();
  let watched: string | undefined;
  let warnedFor: string | undefined;
  let timers: LongTimer[] = [];

  function clearTimers(): void {
    for (const timer of timers) timer.clear();
    timers = [];
  }

  function warn(expiresAt: string, expiresAtMs: number): void {
    // Timers may fire a millisecond early; never report more than the warning window.
    const secondsLeft = Math.min(
      options.warningSeconds,
      Math.ceil((expiresAtMs - Date.now()) / 1000),
    );
    if (secondsLeft <= 0 || warnedFor === expiresAt) return;
    warnedFor = expiresAt;
    for (const listener of [...listeners]) callSafely(() => listener(secondsLeft));
  }

  function checkExpired(expiresAt: string, attempt: number): void {
    if (watched !== expiresAt) return;
    options.onExpired();
    // A new expiry (or signing out) re-arms through watch(), which clears this timer.
    const delay = RECHECK_BACKOFF_MS[Math.min(attempt, RECHECK_BACKOFF_MS.length - 1)] ?? 60_000;
    timers.push(startLongTimer(() => checkExpired(expiresAt, attempt + 1), delay));
  }

  return {
    watch(expiresAt) {
      if (expiresAt === watched) return;
      clearTimers();
      watched = expiresAt;
      if (expiresAt === undefined) return;
      const expiresAtMs = Date.parse(expiresAt);
      if (!Number.isFinite(expiresAtMs)) return;
      const now = Date.now();
      timers.push(
        startLongTimer(
          () => warn(expiresAt, expiresAtMs),
          expiresAtMs - options.warningSeconds * 1000 - now,
        ),
        startLongTimer(() => checkExpired(expiresAt, 0), expiresAtMs + EXPIRY_CHECK_GRACE_MS - now),
      );
    },
    onWarning(listener) {
      listeners.add(listener);
      // A listener added once the warning is out (a component mounted on a later screen) hears
      // it at once: the warning is in force until the expiry changes, not a past event.
      if (watched !== undefined && warnedFor === watched) {
        const secondsLeft = Math.ceil((Date.parse(watched) - Date.now()) / 1000);
        if (secondsLeft > 0) {
          callSafely(() => listener(Math.min(options.warningSeconds, secondsLeft)));
        }
      }
      return () => listeners.delete(listener);
    },
    stop() {
      clearTimers();
      watched = undefined;
      listeners.clear();
    },
  };
}

interface LongTimer {
  clear(): void;
}

/** A timeout that also works for delays beyond setTimeout's 24.8-day limit. */
function startLongTimer(fire: () => void, delayMs: number): LongTimer {
  let handle: ReturnType<typeof setTimeout>;
  const arm = (remaining: number): void => {
    const step = Math.min(Math.max(remaining, 0), MAX_TIMER_DELAY_MS);
    handle = setTimeout(() => {
      if (remaining > MAX_TIMER_DELAY_MS) arm(remaining - MAX_TIMER_DELAY_MS);
      else fire();
    }, step);
  };
  arm(delayMs);
  return { clear: () => clearTimeout(handle) };
}

/** One failing listener must not stop the others; its error still surfaces, asynchronously. */
export function callSafely(call: () => void): void {
  try {
    call();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
