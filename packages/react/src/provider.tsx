import { useEffect } from 'react';
import type { ReactNode } from 'react';
import type { GatehouseClient } from '@gatehouse/client';
import { GatehouseContext } from './context.ts';

export interface GatehouseProviderProps {
  /** The SDK client (`createGatehouseClient()`), created once, outside the component tree. */
  client: GatehouseClient;
  /**
   * Ask Gatehouse who is signed in when the provider mounts (which leaves the `loading` state);
   * default `true`. Turn it off when you call `client.refresh()` yourself.
   */
  refreshOnMount?: boolean;
  /**
   * Called when that first check fails for another reason than "signed out" (Gatehouse
   * unreachable, a 5xx): the state stays `loading`. Default: `console.error`.
   */
  onError?: (error: unknown) => void;
  children?: ReactNode;
}

/**
 * Makes the client available to the hooks and components below. It never disposes the client
 * (which outlives re-mounts, as in StrictMode): call `client.dispose()` yourself if you must.
 */
export function GatehouseProvider({
  client,
  refreshOnMount = true,
  onError,
  children,
}: GatehouseProviderProps): ReactNode {
  useEffect(() => {
    if (!refreshOnMount) return;
    client.refresh().catch((error: unknown) => {
      if (onError) onError(error);
      else console.error('Gatehouse: the session check failed', error);
    });
    // The first check once per client; a new onError function is no reason to ask again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, refreshOnMount]);
  return <GatehouseContext.Provider value={client}>{children}</GatehouseContext.Provider>;
}
