/**
 * `@gatehouse/client`: the browser SDK for a Gatehouse backend-for-frontend.
 * Session state, login/logout, `fetch` with the CSRF header, session management, cross-tab sync,
 * the public tenant description and the tenant admin API. It never sees a token, never reads a
 * client secret back and stores nothing in the browser.
 */
export { createGatehouseClient } from './client.ts';
export { GatehouseProblem } from './problem.ts';
export type { ProblemDetails, ProblemFieldError } from './problem.ts';
export type {
  AdminIdentity,
  GatehouseAdmin,
  GatehouseClient,
  GatehouseClientOptions,
  GatehouseSessionInfo,
  GatehouseUser,
  LoginOptions,
  ProviderCheck,
  ProviderInput,
  ProviderPatch,
  ProviderTestResult,
  ProviderView,
  PublicTenant,
  SessionState,
  SignedOutReason,
  TenantProvider,
  TokenEndpointAuthMethod,
  VisibilitySource,
} from './types.ts';
