import { createServer, type ServerResponse } from 'node:http';
import {
  SignJWT,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type CryptoKey,
  type JWTPayload,
} from 'jose';
import { expect } from 'vitest';
import { freePort, type CookieFetch } from '@gatehouse/testkit';
import type { ConfigInput } from '../../src/config/schema.ts';

export interface ScriptedIdp {
  issuer: string;
  /** The key published at the JWKS URL (kid `k1`). */
  signingKey: CryptoKey;
  /** The public half as SPKI PEM (for tests that misuse it as an HMAC secret). */
  publicPem: string;
  /** Signs an RS256 JWT under kid `k1` (or with another key / kid). */
  sign(payload: JWTPayload, key?: CryptoKey, kid?: string): Promise<string>;
  close(): Promise<void>;
}

/** A body sent as it is, not as JSON: {@link rawBody}. */
class RawBody {
  readonly text: string;
  readonly contentType: string;

  constructor(text: string, contentType: string) {
    this.text = text;
    this.contentType = contentType;
  }
}

/** A `reply` body sent as it is with its content type (an HTML page, say), not as JSON. */
export const rawBody = (text: string, contentType: string): unknown =>
  new RawBody(text, contentType);

export interface ScriptedIdpOptions {
  /**
   * The token endpoint's answer to a form-encoded request; `reply` sends JSON with a status (and
   * extra headers, say a `WWW-Authenticate` challenge), or a {@link rawBody} as it is.
   */
  token(
    form: URLSearchParams,
    reply: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ): void;
  /** Called when a browser (or the test) visits the authorization endpoint. */
  authorize?: (params: URLSearchParams) => void;
  /**
   * A pushed authorization request endpoint (RFC 9126) at `/par`, advertised in discovery,
   * answering whatever the test scripts (`reply` as for the token endpoint).
   */
  par?: (
    form: URLSearchParams,
    reply: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ) => void;
  /** More discovery metadata (say `dpop_signing_alg_values_supported`). */
  metadata?: Record<string, unknown>;
  /** The token endpoint's request headers (a DPoP proof, say), before `token` is called. */
  tokenHeaders?: (headers: Record<string, string | string[] | undefined>) => void;
}

/**
 * An OpenID Provider whose discovery, JWKS and authorization endpoint are correct and whose token
 * endpoint answers whatever the test scripts: for ID tokens a real IdP would never send
 * (forged, mixed up, for another subject) that Gatehouse must refuse.
 */
export async function startScriptedIdp(options: ScriptedIdpOptions): Promise<ScriptedIdp> {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const pair = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const publicPem = await exportSPKI(pair.publicKey);

  const json = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) =>
    body instanceof RawBody
      ? res.writeHead(status, { ...headers, 'content-type': body.contentType }).end(body.text)
      : res
          .writeHead(status, { ...headers, 'content-type': 'application/json' })
          .end(JSON.stringify(body));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        ...(options.par ? { pushed_authorization_request_endpoint: `${issuer}/par` } : {}),
        ...options.metadata,
      });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      options.authorize?.(url.searchParams);
      return res.writeHead(204).end();
    }
    const par = options.par;
    if (url.pathname === '/par' && par) {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () =>
        par(new URLSearchParams(body), (status, answer, headers) =>
          json(res, status, answer, headers),
        ),
      );
      return;
    }
    if (url.pathname === '/token') {
      options.tokenHeaders?.(req.headers);
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () =>
        options.token(new URLSearchParams(body), (status, answer, headers) =>
          json(res, status, answer, headers),
        ),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    issuer,
    signingKey: pair.privateKey,
    publicPem,
    sign: (payload, key = pair.privateKey, kid = 'k1') =>
      new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid }).sign(key),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** An access-log line, as the suites against a scripted IdP read them. */
export interface AccessLine {
  req?: { id?: string };
  res?: { statusCode?: number };
  errorCode?: string;
  reason?: string;
  cause?: Record<string, string>;
}

/** The access line of the request sent with `x-request-id: requestId`, once it is written. */
export async function accessLineOf(
  lines: readonly AccessLine[],
  requestId: string,
): Promise<AccessLine> {
  let found: AccessLine | undefined;
  await expect
    .poll(() => {
      found = lines.find((line) => line.req?.id === requestId && line.res?.statusCode);
      return found !== undefined;
    })
    .toBe(true);
  return found ?? {};
}

/**
 * A sign-in through a scripted IdP: `/bff/login`, the IdP's authorization endpoint (which
 * answers at once), then the callback with a code and the login's `state`, sent with
 * `x-request-id: requestId` and `headers`.
 */
export async function signInThroughScriptedIdp(
  http: CookieFetch,
  origin: string,
  { tenant, provider }: { tenant: string; provider: string },
  requestId: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const start = await http(`${origin}/bff/login?tenant=${tenant}&provider=${provider}`);
  const authorization = new URL(start.headers.get('location') ?? '');
  await fetch(authorization);
  const url = new URL(`/bff/callback/${tenant}/${provider}`, origin);
  url.searchParams.set('code', 'the-code');
  url.searchParams.set('state', authorization.searchParams.get('state') ?? '');
  return http(url.href, { headers: { ...headers, 'x-request-id': requestId } });
}

type TenantInput = NonNullable<ConfigInput['tenants']>[number];
type RouteInput = NonNullable<ConfigInput['routes']>[number];

/**
 * The stack's configuration trusting more hand-made OPs on loopback as dev IdPs (plain http,
 * which Gatehouse otherwise refuses).
 */
export const trustingDevIdps = (input: ConfigInput, ...origins: string[]): ConfigInput => ({
  ...input,
  devIdpOrigins: [...(input.devIdpOrigins ?? []), ...origins],
});

/**
 * The stack's configuration with a scripted IdP behind a tenant of its own: the IdP's origin
 * trusted as a dev IdP, `tenant` added, and with `echo` the demo API's echo (what the upstream
 * received) behind `/api/echo`, a route that sends the user's token (`echo` may hold more of
 * the route's settings, say `{ dpop: true }`).
 */
export function withScriptedTenant(
  input: ConfigInput,
  issuer: string,
  tenant: TenantInput,
  echo?: true | Partial<RouteInput>,
): ConfigInput {
  const routes = input.routes ?? [];
  const echoRoute: RouteInput = {
    prefix: '/api/echo',
    upstream: `${routes[0]?.upstream}/public/echo`,
    tokenMode: 'user',
    ...(echo === true ? {} : echo),
  };
  return {
    ...trustingDevIdps(input, issuer),
    ...(echo && { routes: [...routes, echoRoute] }),
    tenants: [...(input.tenants ?? []), tenant],
  };
}
