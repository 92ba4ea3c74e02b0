import { useEffect } from 'react';
import type { ReactNode } from 'react';
import type { GatehouseClient } from '@gatehouse/client';
import { GatehouseContext } from './context.ts';

export interface GatehouseProviderProps {
  /** The SDK client (`createGatehouseClient()`), created once, outside the component tree. */
  client: GatehouseClient;
  /**
   * Ask Gatehouse who is signed in when the provider mounts (which leaves the `loading` state);
   * default `true`: one request, even when StrictMode mounts the provider twice. Turn it off when
   * you call `client.refresh()` yourself.
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
 * Each client's first check while it is out. StrictMode mounts every component twice in
 * development (mount, unmount, mount again): the second mount joins the first one's check
 * instead of sending another. A provider mounted after it answered asks again.
 */
const mountChecks = new WeakMap<GatehouseClient, Promise<unknown>>();

function mountCheck(client: GatehouseClient): Promise<unknown> {
  const pending = mountChecks.get(client);
  if (pending !== undefined) return pending;
  const check: Promise<unknown> = client.refresh().finally(() => {
    if (mountChecks.get(client) === check) mountChecks.delete(client);
  });
  mountChecks.set(client, check);
  return check;
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
    let mounted = true;
    mountCheck(client).catch((error: unknown) => {
      // Told once, by the provider still mounted (not by StrictMode's first, discarded mount).
      if (!mounted) return;
      if (onError) onError(error);
      else console.error('Gatehouse: the session check failed', error);
    });
    return () => {
      mounted = false;
    };
    // The first check once per client; a new onError function is no reason to ask again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, refreshOnMount]);
  return <GatehouseContext.Provider value={client}>{children}</GatehouseContext.Provider>;
}
