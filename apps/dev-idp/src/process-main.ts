/**
 * The dev IdP in a Node process of its own, started by `startDevIdpProcess` (process.ts): reads
 * its options as JSON from `DEV_IDP_OPTIONS`, prints one JSON line `{ origin, issuers }` once it
 * listens (warmed up), and closes on SIGTERM or SIGINT, or when its parent goes away (stdin
 * closes).
 */
import { startDevIdp, type DevIdpOptions } from './server.ts';
import { closeOnSignals } from './shutdown.ts';

const options = JSON.parse(process.env['DEV_IDP_OPTIONS'] ?? '{}') as DevIdpOptions;
const idp = await startDevIdp(options);
const issuers = Object.fromEntries(
  (options.realms ?? [{ path: '' }, { path: '/globex' }]).map(({ path }) => [
    path,
    idp.issuer(path),
  ]),
);
process.stdout.write(`${JSON.stringify({ origin: idp.origin, issuers })}\n`);

const shutdown = closeOnSignals(idp);
// The parent holds the other end of stdin: when it dies without stopping us, stdin ends.
process.stdin.on('end', shutdown).on('error', shutdown).resume();
