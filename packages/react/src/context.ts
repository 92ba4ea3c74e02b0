import { createContext, useContext } from 'react';
import type { GatehouseClient } from '@gatehouse/client';

/**
 * Declare your client's type here to have `useGatehouse()` return it — for instance so that
 * `login()` may be called bare when the client has a `defaultTenant`:
 *
 * @example
 * declare module '@gatehouse/react' {
 *   interface Register {
 *     client: typeof gatehouse; // createGatehouseClient({ defaultTenant: 'acme' })
 *   }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging
export interface Register {}

/** The client type `useGatehouse()` returns: the registered one, else any `GatehouseClient`. */
export type RegisteredClient = Register extends { client: infer Client extends GatehouseClient }
  ? Client
  : GatehouseClient;

export const GatehouseContext = createContext<GatehouseClient | undefined>(undefined);

/** The client given to the nearest `<GatehouseProvider>`. */
export function useGatehouse(): RegisteredClient {
  const client = useContext(GatehouseContext);
  if (client === undefined) {
    throw new Error(
      'useGatehouse() and the other Gatehouse hooks need a <GatehouseProvider client={…}> above them',
    );
  }
  // The same client; its type is the one the app registered (unregistered, the cast is a no-op).
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
  return client as RegisteredClient;
}
