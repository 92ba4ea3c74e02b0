import type { ConfigInput } from './schema.ts';

/**
 * Embedded development defaults: the dev stack of the README (app :3000, dev IdP :4000 with the
 * realms `''` (acme) and `/globex`, demo API :4001). These client secrets are the dev IdP's
 * public, development-only values; production mode never uses this file.
 */
export function developmentDefaults(
  publicUrl: string,
  devIdpOrigin: string,
  demoApiUrl: string,
): ConfigInput {
  return {
    mode: 'development',
    publicUrl,
    devIdpOrigins: [devIdpOrigin],
    defaultTenant: 'acme',
    tenants: [
      {
        id: 'acme',
        name: 'Acme',
        emailDomains: ['acme.test'],
        providers: [
          {
            id: 'dev',
            displayName: 'Acme dev IdP',
            issuer: devIdpOrigin,
            clientId: 'gatehouse-acme',
            clientSecret: 'dev-only-acme-secret',
            // oidc-provider issues refresh tokens for offline_access only with prompt=consent.
            authorizationParams: { prompt: 'consent' },
          },
        ],
      },
      {
        id: 'globex',
        name: 'Globex',
        emailDomains: ['globex.test'],
        providers: [
          {
            id: 'dev',
            displayName: 'Globex dev IdP',
            issuer: `${devIdpOrigin}/globex`,
            clientId: 'gatehouse-globex',
            clientSecret: 'dev-only-globex-secret',
            authorizationParams: { prompt: 'consent' },
          },
        ],
      },
    ],
    routes: [
      // Also accepts WebSockets: the demo API's echo is `/api/demo/ws/echo`.
      { prefix: '/api/demo', upstream: demoApiUrl, tokenMode: 'user', websocket: true },
      // The same API, reached with a Gatehouse-signed token instead of the IdP's.
      {
        prefix: '/api/demo-gh',
        upstream: demoApiUrl,
        tokenMode: 'gatehouse',
        audience: 'urn:gatehouse:demo-api',
      },
    ],
  };
}
