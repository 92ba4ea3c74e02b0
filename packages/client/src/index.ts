/**
 * `@gatehouse/client`: the browser SDK for a Gatehouse backend-for-frontend.
 * Session state, login/logout, `fetch` with the CSRF header, session management, cross-tab sync,
 * the public tenant description and the tenant admin API. It never sees a token, never reads a
 * client secret back and stores nothing in the browser.
 */
export { createGatehouseClient } from './client.ts';
export { GatehouseProblem, readProblem } from './problem.ts';
export type { ProblemDetails, ProblemFieldError } from './problem.ts';
export type {
  GatehouseAdmin,
  GatehouseClient,
  GatehouseClientOptions,
  GatehouseSessionInfo,
  GatehouseUser,
  LoginArgs,
  LoginOptions,
  LogoutOptions,
  LoginTarget,
  PublicTenant,
  SessionState,
  SignedOutReason,
  VisibilitySource,
} from './types.ts';
export type { GatehouseAdminConsole, ProviderCheck, ProviderCheckReport } from './types.ts';
export type {
  AdminIdentity,
  ApiKeyInfo,
  AuditEventView,
  ClientKeyInfo,
  ClientKeyList,
  ClientKeyRotated,
  AuditPage,
  IssuedApiKey,
  SessionsEnded,
  TenantSession,
  TenantSessionList,
  ProblemCode,
  ProviderCheckName,
  ProviderCheckResult,
  ProviderInput,
  ProviderList,
  ProviderPatch,
  ProviderProfile,
  ProviderProfiles,
  ProviderTestResult,
  ProviderUris,
  ProviderView,
  TenantProvider,
  TokenEndpointAuthMethod,
} from './admin-contract.ts';
