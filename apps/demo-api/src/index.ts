import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { json } from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import {
  createAccessTokenVerifier,
  requireAccessToken,
  verifiedTokenOf,
  type AccessTokenVerifier,
} from './access-token.ts';
import { createPublicRouter, streamTicks } from './diagnostics.ts';
import { createNotesRouter } from './notes.ts';
import { ReplayCache } from './dpop.ts';
import { attachEchoSocket } from './websocket-echo.ts';
import type { DemoApiOptions, DemoApiStats, TrustedIssuer } from './types.ts';

export type { DemoApiOptions, TrustedIssuer, VerifiedAccessToken } from './types.ts';
export type { Note } from './notes.ts';

/**
 * Builds the demo resource server: public diagnostics under `/public`, `/healthz`, and the
 * bearer-protected `/me`, `/notes` and `/events` (and, once started by {@link startDemoApi}, the
 * WebSocket echo `/ws/echo`). Throws on invalid options, listing every problem.
 */
export function createDemoApiApp(options: Omit<DemoApiOptions, 'port' | 'host'>): Express {
  return buildDemoApi(options).app;
}

/** The app and the token verifier it uses (the WebSocket endpoint checks tokens the same way). */
function buildDemoApi(options: Omit<DemoApiOptions, 'port' | 'host'>): {
  app: Express;
  verify: AccessTokenVerifier;
} {
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  const problems = [...trustedIssuerProblems(options.trustedIssuers)];
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0 || clockTolerance > 300) {
    problems.push('clockToleranceSeconds must be between 0 and 300');
  }
  if (problems.length > 0) throw new Error(`Invalid demo-api options: ${problems.join('; ')}`);

  const stats: DemoApiStats = { openEventStreams: 0, pendingSlowRequests: 0 };
  const verify = createAccessTokenVerifier(options.trustedIssuers, clockTolerance);
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use('/public', createPublicRouter(stats));
  // Everything below needs a token; bodies are parsed only after it has been verified.
  app.use(requireAccessToken(verify, new ReplayCache()));
  app.get('/me', (_req, res) => {
    const { sub, iss, aud, claims, dpopJkt } = verifiedTokenOf(res);
    res.json({ sub, iss, aud, claims, ...(dpopJkt ? { dpop: { jkt: dpopJkt } } : {}) });
  });
  app.get('/events', streamTicks(stats));
  app.use(json({ limit: '64kb' }), createNotesRouter());
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  app.use(answerErrorsAsJson);
  return { app, verify };
}

/** Starts the demo API (default 127.0.0.1 on a free port); `close()` also drops open streams and
 * WebSockets. */
export async function startDemoApi(
  options: DemoApiOptions,
): Promise<{ origin: string; close(): Promise<void> }> {
  const { port = 0, host = '127.0.0.1', ...appOptions } = options;
  const { app, verify } = buildDemoApi(appOptions);
  const server = createServer(app);
  const closeSockets = attachEchoSocket(server, verify);
  // Longer than Gatehouse's upstream idle timeout: a reused connection is never closed under a request.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: boundPort } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    origin: `http://${originHost(host)}:${boundPort}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        closeSockets();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function originHost(host: string): string {
  if (['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost'].includes(host)) return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function* trustedIssuerProblems(list: unknown): Generator<string> {
  if (!Array.isArray(list) || list.length === 0) {
    yield 'trustedIssuers must be a non-empty array';
    return;
  }
  const seen = new Set<string>();
  for (const [index, trusted] of (list as Partial<TrustedIssuer>[]).entries()) {
    const at = `trustedIssuers[${index}]`;
    const { issuer, jwksUri, audience, algorithms } = trusted;
    if (typeof issuer !== 'string' || issuer === '')
      yield `${at}.issuer must be a non-empty string`;
    else if (seen.has(issuer)) yield `${at}.issuer ${issuer} is listed twice`;
    else seen.add(issuer);
    if (typeof jwksUri !== 'string' || !/^https?:$/.test(URL.parse(jwksUri)?.protocol ?? '')) {
      yield `${at}.jwksUri must be an http(s) URL`;
    }
    const audiences: unknown[] = Array.isArray(audience) ? audience : [audience];
    if (audiences.length === 0 || audiences.some((aud) => typeof aud !== 'string' || aud === '')) {
      yield `${at}.audience must be a non-empty string or array of them`;
    }
    if (algorithms !== undefined && (!Array.isArray(algorithms) || algorithms.length === 0)) {
      yield `${at}.algorithms must be a non-empty array`;
    } else if (algorithms?.some((alg) => typeof alg !== 'string' || /^(none|HS\d+)$/i.test(alg))) {
      yield `${at}.algorithms must not contain none or HS* (keys come from a public JWKS)`;
    }
  }
}

const CLIENT_ERROR_CODES: Record<string, string> = {
  'entity.parse.failed': 'malformed_json',
  'entity.too.large': 'payload_too_large',
};

/** One boundary: client errors (bad JSON, too large) keep their 4xx, anything else is an opaque 500. */
const answerErrorsAsJson: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
  if (res.headersSent) return void res.end();
  const { status, type } = (typeof error === 'object' && error !== null ? error : {}) as {
    status?: unknown;
    type?: unknown;
  };
  if (typeof status !== 'number' || status < 400 || status >= 500) {
    return void res.status(500).json({ error: 'internal_error' });
  }
  const code = typeof type === 'string' ? CLIENT_ERROR_CODES[type] : undefined;
  res.status(status).json({ error: code ?? 'invalid_request' });
};
