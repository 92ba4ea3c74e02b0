// Standalone dev IdP for `pnpm dev` and docker.
import { defaultRealms, startDevIdp } from './index.ts';
import { closeOnSignals } from './shutdown.ts';

const port = Number(process.env['PORT'] ?? 4000);
// The origin the browser sees Gatehouse at: the SPA's dev server (PUBLIC_URL, as `pnpm dev:stack`
// passes it to Gatehouse too) or apps/web's http://localhost:3000.
const gatehouseOrigin =
  process.env['GATEHOUSE_PUBLIC_URL'] || process.env['PUBLIC_URL'] || 'http://localhost:3000';

const idp = await startDevIdp({
  port,
  host: process.env['DEV_IDP_HOST'] ?? '127.0.0.1',
  publicOrigin: process.env['DEV_IDP_PUBLIC_ORIGIN'] || undefined,
  realms: defaultRealms({ gatehouseOrigin }),
  // `GATEHOUSE_TEST_CONTROLS=1 pnpm dev` turns on Gatehouse's test controls and this together.
  controlApi:
    process.env['DEV_IDP_CONTROL_API'] === '1' || process.env['GATEHOUSE_TEST_CONTROLS'] === '1',
});
process.stdout.write(
  `dev IdP listening on ${idp.origin} (issuers: ${idp.issuer('')}, ${idp.issuer('/globex')})\n`,
);

closeOnSignals(idp);
