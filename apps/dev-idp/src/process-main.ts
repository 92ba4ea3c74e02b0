/**
 * The dev IdP in a Node process of its own, started by `startDevIdpProcess` (process.ts): reads
 * its options as JSON from `DEV_IDP_OPTIONS`, prints one JSON line `{ origin, issuers }` once it
 * listens (warmed up), and closes on SIGTERM or SIGINT, or when its parent goes away (stdin
 * closes).
 */
import { startDevIdp, type DevIdpOptions } from './server.ts';

const options = JSON.parse(process.env['DEV_IDP_OPTIONS'] ?? '{}') as DevIdpOptions;
const idp = await startDevIdp(options);
const issuers = Object.fromEntries(
  (options.realms ?? [{ path: '' }, { path: '/globex' }]).map(({ path }) => [
    path,
    idp.issuer(path),
  ]),
);
process.stdout.write(`${JSON.stringify({ origin: idp.origin, issuers })}\n`);

let stopping = false;
function shutdown(): void {
  if (stopping) return;
  stopping = true;
  idp.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error('dev IdP shutdown failed', err);
      process.exit(1);
    },
  );
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
// The parent holds the other end of stdin: when it dies without stopping us, stdin ends.
process.stdin.on('end', shutdown).on('error', shutdown).resume();
