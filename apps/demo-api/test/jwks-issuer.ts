import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWTHeaderParameters, JWTPayload } from 'jose';

export const AUDIENCE = 'urn:gatehouse:demo-api';

/** A test issuer: an RSA key pair and a tiny HTTP server that serves its public JWKS and counts fetches. */
export interface TestIssuer {
  issuer: string;
  jwksUri: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwksHits(): number;
  sign(claims?: JWTPayload, header?: Partial<JWTHeaderParameters>): Promise<string>;
  close(): Promise<void>;
}

export async function startTestIssuer(kid: string, port = 0): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  let hits = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/jwks') return void res.writeHead(404).end();
    hits += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const issuer = `http://localhost:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    kid,
    privateKey,
    publicKey,
    jwksHits: () => hits,
    sign: (claims = {}, header = {}) =>
      signAccessToken(privateKey, { iss: issuer, ...claims }, { kid, ...header }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Signs an RFC 9068-shaped access token; claims and header override the defaults. */
export async function signAccessToken(
  key: CryptoKey | Uint8Array,
  claims: JWTPayload,
  header: Partial<JWTHeaderParameters> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: 'alice', aud: AUDIENCE, iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', ...header })
    .sign(key);
}

/** Builds a token without signing it, for `alg: none` and other hand-made shapes. */
export function unsignedToken(header: object, claims: object, signature = ''): string {
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  return `${encode(header)}.${encode(claims)}.${signature}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
