/**
 * `@gatehouse/react`: React bindings for `@gatehouse/client` — a provider, hooks for the session,
 * the user and API calls, and components that render by session state.
 */
export { GatehouseProvider } from './provider.tsx';
export type { GatehouseProviderProps } from './provider.tsx';
export { useGatehouse } from './context.ts';
export type { Register, RegisteredClient } from './context.ts';
export { useApi, useExpiryWarning, useSession, useUser } from './hooks.ts';
export { SessionLoading, SignedIn, SignedOut } from './components.tsx';
export type { SignedInProps, SignedOutProps } from './components.tsx';
// The client SDK, so that an app can import everything it needs from one package.
export { createGatehouseClient, GatehouseProblem, readProblem } from '@gatehouse/client';
export type {
  GatehouseClient,
  GatehouseClientOptions,
  GatehouseUser,
  LoginOptions,
  LoginTarget,
  SessionState,
  SignedOutReason,
} from '@gatehouse/client';
