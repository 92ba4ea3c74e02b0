export { startDevIdp, DEFAULT_GATEHOUSE_ORIGIN } from './server.ts';
export type { DevIdpOptions, RunningDevIdp } from './server.ts';
export { DEMO_API_RESOURCE, DEV_CLIENTS, defaultRealms, devClientUris } from './realms.ts';
export type { DevIdpClient, DevIdpRealm, DevIdpSigningAlg, DevIdpUser } from './realms.ts';
export { DEFAULT_RESOURCE_SCOPE } from './provider.ts';
export { completeDevIdpLogin } from './testing.ts';
export type { FetchWithCookies } from './testing.ts';
export { PERSONALITY_PATHS, realmIssuer } from './personalities.ts';
export { PERSONALITIES, type Personality } from './realms.ts';
