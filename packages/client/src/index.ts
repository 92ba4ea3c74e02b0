/**
 * `@gatehouse/client`: the browser SDK for a Gatehouse backend-for-frontend.
 * Session state, login/logout, `fetch` with the CSRF header, session management and cross-tab
 * sync. It never sees a token and stores nothing in the browser.
 */
export { createGatehouseClient } from './client.ts';
export { GatehouseProblem } from './problem.ts';
export type { ProblemDetails } from './problem.ts';
export type {
  GatehouseClient,
  GatehouseClientOptions,
  GatehouseSessionInfo,
  GatehouseUser,
  LoginOptions,
  SessionState,
  SignedOutReason,
  VisibilitySource,
} from './types.ts';
