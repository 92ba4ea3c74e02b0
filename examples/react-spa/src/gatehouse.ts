import { createGatehouseClient } from '@gatehouse/react';

/**
 * One client for the whole app, created once. `defaultTenant` is the organisation "Sign in" uses;
 * an email finds its own (home-realm discovery).
 */
export const gatehouse = createGatehouseClient({ defaultTenant: 'acme' });

// Tell the hooks which client this is, so `useGatehouse().login()` may be called bare.
declare module '@gatehouse/react' {
  interface Register {
    client: typeof gatehouse;
  }
}
