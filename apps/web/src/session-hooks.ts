import type { GatehouseClient, SessionState } from '@gatehouse/client';
import { useEffect, useState, useSyncExternalStore } from 'react';

/** The SDK's session state as React state. */
export function useSessionState(client: GatehouseClient): SessionState {
  return useSyncExternalStore(client.subscribe, () => client.state);
}

interface ExpiryWarning {
  /** The expiry the SDK warned about; a slid session has a new one, which hides the warning. */
  expiresAt: string;
  now: number;
}

/**
 * Seconds until the session ends, once the SDK's expiry warning fired for the current
 * `session.expiresAt`; `undefined` when there is nothing to warn about.
 */
export function useExpiryCountdown(
  client: GatehouseClient,
  state: SessionState,
): number | undefined {
  const [warning, setWarning] = useState<ExpiryWarning | undefined>(undefined);

  useEffect(
    () =>
      client.onExpiryWarning(() => {
        const current = client.state;
        if (current.status !== 'signed-in') return;
        setWarning({ expiresAt: current.user.session.expiresAt, now: Date.now() });
      }),
    [client],
  );

  const active =
    warning !== undefined &&
    state.status === 'signed-in' &&
    state.user.session.expiresAt === warning.expiresAt;

  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => {
      setWarning((previous) => previous && { ...previous, now: Date.now() });
    }, 1_000);
    return () => clearInterval(timer);
  }, [active]);

  if (!active) return undefined;
  return Math.max(0, Math.ceil((Date.parse(warning.expiresAt) - warning.now) / 1_000));
}
