// Standalone demo API. Environment:
//   PORT (default 4001), DEMO_API_HOST (default 127.0.0.1),
//   DEMO_API_TRUSTED_ISSUERS: JSON array of TrustedIssuer, e.g.
//     [{"issuer":"https://idp.example","jwksUri":"https://idp.example/jwks","audience":"urn:api"}]
//   When unset, the two dev IdP issuers of the dev stack are trusted, and Gatehouse's own
//   dev issuer (PUBLIC_URL, default http://localhost:3000, `gatehouse` token mode) with its JWKS at
//   DEMO_API_GATEHOUSE_JWKS (default http://localhost:3100/.well-known/jwks.json: the dev server
//   listens on 3100 behind Vite's 3000).
import process from 'node:process';
import { startDemoApi } from './index.ts';
import type { TrustedIssuer } from './index.ts';

const DEV_AUDIENCE = 'urn:gatehouse:demo-api';
const DEV_ISSUERS = ['http://localhost:4000', 'http://localhost:4000/globex'];
// `pnpm dev:stack` with a team's SPA passes its origin as PUBLIC_URL to every app.
const DEV_GATEHOUSE_ISSUER = process.env['PUBLIC_URL'] || 'http://localhost:3000';
const DEV_GATEHOUSE_JWKS = 'http://localhost:3100/.well-known/jwks.json';

function trustedIssuersFromEnv(
  raw: string | undefined,
  gatehouseJwks: string | undefined,
): TrustedIssuer[] {
  if (raw === undefined || raw.trim() === '') {
    console.warn('demo-api: DEMO_API_TRUSTED_ISSUERS unset, trusting the dev stack issuers only');
    return [
      ...DEV_ISSUERS.map((issuer) => ({
        issuer,
        jwksUri: `${issuer}/jwks`,
        audience: DEV_AUDIENCE,
      })),
      {
        issuer: DEV_GATEHOUSE_ISSUER,
        jwksUri: gatehouseJwks || DEV_GATEHOUSE_JWKS,
        audience: DEV_AUDIENCE,
        algorithms: ['ES256', 'RS256'],
      },
    ];
  }
  try {
    return JSON.parse(raw) as TrustedIssuer[];
  } catch {
    throw new Error('DEMO_API_TRUSTED_ISSUERS is not valid JSON');
  }
}

function portFromEnv(raw: string | undefined): number {
  const port = Number(raw ?? 4001);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT is not a port');
  return port;
}

async function main(): Promise<void> {
  const trustedIssuers = trustedIssuersFromEnv(
    process.env.DEMO_API_TRUSTED_ISSUERS,
    process.env.DEMO_API_GATEHOUSE_JWKS,
  );
  const api = await startDemoApi({
    port: portFromEnv(process.env.PORT),
    host: process.env.DEMO_API_HOST ?? '127.0.0.1',
    trustedIssuers,
  });
  process.stdout.write(
    `demo-api listening on ${api.origin} (issuers: ${trustedIssuers.map((t) => t.issuer).join(', ')})\n`,
  );
  const shutdown = (): void => {
    api.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  console.error(`demo-api: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
