/**
 * What a DPoP proof adds to one proxied call (RFC 9449), in CPU µs per call, beside named
 * baselines measured in the same run:
 *
 * - `bearer`: the `Authorization: Bearer …` header a non-DPoP route sends (the floor);
 * - `dpop, key cached`: Gatehouse's path — the session's key opened and imported once per
 *   process, one proof (an ECDSA P-256 signature and a SHA-256 of the token) per call;
 * - `dpop, key opened per call`: the same proof with the sealed key decrypted and imported on
 *   every call, the cost the cache avoids.
 *
 *   pnpm bench:dpop [--calls 2000]
 */
import { Vault } from '../packages/gatehouse/src/session/vault.ts';
import { DpopKeys, newDpopKey } from '../packages/gatehouse/src/oidc/dpop.ts';
import { scriptOptions } from './bench/script-options.ts';

const values = scriptOptions(import.meta.url, { calls: { type: 'string', default: '2000' } });
const calls = Number(values.calls);
if (!Number.isInteger(calls) || calls < 1) throw new Error('--calls must be a positive integer');

// A throwaway key for this run only: nothing here is ever stored.
const vault = new Vault([{ kid: 'bench', key: Buffer.alloc(32, 1).toString('base64url') }]);
const { jwk } = await newDpopKey();
const sealed = await vault.seal(jwk);
// An access token of a typical size (the dev IdP's JWTs are about 1 KB).
const token = Buffer.alloc(760, 'a').toString('base64url');
const url = new URL('http://127.0.0.1:4001/notes/42?limit=10');

async function cpuMicrosPerCall(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, calls); i += 1) await run();
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i += 1) await run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

const cached = new DpopKeys(vault);
const results: Array<[string, number]> = [
  ['bearer', await cpuMicrosPerCall(() => Promise.resolve(`Bearer ${token}`))],
  [
    'dpop, key cached (Gatehouse)',
    await cpuMicrosPerCall(() => cached.requestHeaders(sealed, token, 'GET', url)),
  ],
  [
    'dpop, key opened per call',
    await cpuMicrosPerCall(() => new DpopKeys(vault).requestHeaders(sealed, token, 'GET', url)),
  ],
];

const headers = await cached.requestHeaders(sealed, token, 'GET', url);
const gatehouse = results[1]?.[1] ?? 0;
process.stdout.write(`DPoP proof per proxied call, ${calls} calls each (CPU µs per call)\n\n`);
process.stdout.write(
  `| Variant | CPU µs/call | Gatehouse vs it |\n| --- | ---: | ---: |\n${results
    .map(
      ([name, micros]) =>
        `| ${name} | ${micros.toFixed(1)} | ${(gatehouse / micros).toFixed(2)}× |`,
    )
    .join('\n')}\n\n`,
);
process.stdout.write(
  `sealed key in the session record: ${sealed.length} bytes; DPoP header: ${headers.dpop.length} bytes\n`,
);
