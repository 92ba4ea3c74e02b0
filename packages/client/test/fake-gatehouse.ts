/// <reference types="node" />
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFakeAdmin } from './fake-admin.ts';
import type { FakeAdmin } from './fake-admin.ts';
import { send, sendJson, sendProblem } from './fake-http.ts';

/** One request as the fake BFF saw it, for asserting on headers the SDK must send. */
export interface RecordedRequest {
  method: string;
  path: string;
  csrf: string | undefined;
}

interface FakeSession {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  device: string;
  current: boolean;
}

/**
 * A tiny, stateful stand-in for the Gatehouse BFF HTTP contract, on a real port. One "browser"
 * session (the cookie is modelled by a flag, shared by every client pointed at it).
 */
export interface FakeGatehouse {
  url: string;
  requests: RecordedRequest[];
  /** Signs the browser in with a session that lasts `ttlMs` and slides on `GET /bff/user`. */
  signIn(opts?: { ttlMs?: number }): void;
  /** The session disappears server-side (revoked elsewhere). */
  revoke(): void;
  /** Answer `GET /bff/user` with this status (503 = store down) until set back to undefined. */
  failUserWith: number | undefined;
  /** Headers of those failed answers (`retry-after`, a `date` of the server's clock). */
  failUserHeaders: Record<string, string | string[]>;
  /** Hold `GET /bff/user` answers (decided on arrival) this long, to stage races. */
  userDelayMs: number;
  /** Resolves once no request is open and none arrived or finished for 50 ms. */
  idle(): Promise<void>;
  /** Waits for stragglers of the previous test, then signs out and restores every default. */
  reset(): Promise<void>;
  endSessionUrl: string | null;
  readonly sessions: FakeSession[];
  readonly expiresAt: string;
  /** The public tenant endpoint and the admin API (`/admin/api`). */
  admin: FakeAdmin;
  close(): Promise<void>;
}

const DEFAULT_TTL_MS = 15 * 60_000;
const DEFAULT_END_SESSION_URL = 'http://localhost:4000/session/end?client_id=spa';

export async function startFakeGatehouse(): Promise<FakeGatehouse> {
  let signedIn = false;
  let ttlMs = DEFAULT_TTL_MS;
  let expiresAtMs = 0;
  let sessions: FakeSession[] = [];
  const fake = {
    url: '',
    requests: [] as RecordedRequest[],
    failUserWith: undefined as number | undefined,
    failUserHeaders: {} as Record<string, string | string[]>,
    userDelayMs: 0,
    endSessionUrl: DEFAULT_END_SESSION_URL as string | null,
    get sessions() {
      return sessions;
    },
    get expiresAt() {
      return new Date(expiresAtMs).toISOString();
    },
    signIn(opts: { ttlMs?: number } = {}) {
      signedIn = true;
      ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
      expiresAtMs = Date.now() + ttlMs;
      const now = new Date().toISOString();
      sessions = [
        {
          id: 'sess-current',
          createdAt: now,
          lastSeenAt: now,
          device: 'Firefox on Linux',
          current: true,
        },
        {
          id: 'sess/phone',
          createdAt: now,
          lastSeenAt: now,
          device: 'Safari on iOS',
          current: false,
        },
        {
          id: 'sess-laptop',
          createdAt: now,
          lastSeenAt: now,
          device: 'Chrome on macOS',
          current: false,
        },
      ];
    },
    revoke() {
      signedIn = false;
    },
  };

  let open = 0;
  let lastActivity = Date.now();
  async function idle(): Promise<void> {
    while (open > 0 || Date.now() - lastActivity < 50) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Answers 401 (and returns false) when there is no live session. */
  function requireSession(res: ServerResponse): boolean {
    if (signedIn && Date.now() >= expiresAtMs) {
      signedIn = false;
      sendProblem(res, 401, 'session_expired', 'Session expired');
      return false;
    }
    if (!signedIn) {
      sendProblem(res, 401, 'unauthenticated', 'Sign-in required');
      return false;
    }
    return true;
  }

  function requireCsrf(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.headers['x-csrf'] === '1') return true;
    sendProblem(res, 403, 'csrf_header_required', 'X-CSRF: 1 is required');
    return false;
  }

  function user(): unknown {
    return {
      claims: { sub: 'alice-sub', name: 'Alice', email: 'alice@example.com', groups: ['admins'] },
      tenant: 'acme',
      provider: 'dev',
      issuer: 'http://localhost:4000/acme',
      session: { expiresAt: new Date(expiresAtMs).toISOString() },
      logoutUrl: '/bff/logout?sid=handle-current',
    };
  }

  function answerUser(url: URL): (res: ServerResponse) => void {
    if (fake.failUserWith !== undefined) {
      const status = fake.failUserWith;
      const headers = { ...fake.failUserHeaders };
      return (res) =>
        sendProblem(res, status, 'store_unavailable', 'Session storage unavailable', {}, headers);
    }
    if (signedIn && Date.now() >= expiresAtMs) {
      signedIn = false;
      return (res) => sendProblem(res, 401, 'session_expired', 'Session expired');
    }
    if (!signedIn) return (res) => sendProblem(res, 401, 'unauthenticated', 'Sign-in required');
    if (url.searchParams.get('slide') !== 'false') expiresAtMs = Date.now() + ttlMs;
    const body = user();
    return (res) => sendJson(res, 200, body);
  }

  const admin = createFakeAdmin({
    baseUrl: () => fake.url,
    checkSession: (req, res) => requireSession(res),
    checkCsrf: requireCsrf,
  });

  function route(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const key = `${req.method} ${url.pathname}`;
    if (admin.handle(req, url, body, res)) return;
    if (key === 'GET /bff/user') {
      // Decide now, answer later: the answer reflects the state when the request arrived.
      const answer = answerUser(url);
      setTimeout(() => answer(res), fake.userDelayMs);
    } else if (key === 'POST /bff/logout') {
      if (!requireCsrf(req, res) || !requireSession(res)) return;
      signedIn = false;
      // As Gatehouse does: a redirect (the SDK navigates here with a form; it never fetches it).
      res.writeHead(303, { location: fake.endSessionUrl ?? '/' }).end();
    } else if (url.pathname === '/api/demo/me') {
      if (!requireCsrf(req, res) || !requireSession(res)) return;
      sendJson(res, 200, { sub: 'alice-sub', method: req.method, echo: req.headers['x-echo'] });
    } else if (url.pathname === '/api/upstream-401-lookalike') {
      // An upstream answering with the very body Gatehouse would use — but not its header.
      if (!requireCsrf(req, res) || !requireSession(res)) return;
      res.writeHead(401, { 'content-type': 'application/problem+json' }).end(
        JSON.stringify({
          type: 'about:blank',
          title: 'Unauthorized',
          status: 401,
          code: 'unauthenticated',
        }),
      );
    } else if (url.pathname === '/api/slow') {
      // An API that takes its time, for callers that give up first.
      setTimeout(() => sendJson(res, 200, { slow: true }), 500);
    } else if (url.pathname === '/api/gatehouse-503') {
      // Gatehouse's own 503 on a proxied path (its store is down): `?retryAfter=` as the header.
      const retryAfter = url.searchParams.get('retryAfter');
      sendProblem(
        res,
        503,
        'store_unavailable',
        'Session storage unavailable',
        {},
        {
          ...(retryAfter === null ? {} : { 'retry-after': retryAfter }),
        },
      );
    } else if (url.pathname === '/api/upstream-503') {
      // The upstream API's own 503, passed through: no Gatehouse-Problem header.
      const retryAfter = url.searchParams.get('retryAfter') ?? '60';
      res
        .writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter })
        .end(JSON.stringify({ error: 'maintenance' }));
    } else if (url.pathname === '/api/upstream-401') {
      // The upstream API's own 401 (not Gatehouse's "no session"), passed through.
      if (!requireCsrf(req, res) || !requireSession(res)) return;
      sendJson(res, 401, { error: 'invalid_token' });
    } else if (key === 'GET /bff/sessions') {
      if (!requireSession(res)) return;
      sendJson(res, 200, { sessions });
    } else if (key === 'POST /bff/sessions/end-others') {
      if (!requireCsrf(req, res) || !requireSession(res)) return;
      sessions = sessions.filter((s) => s.current);
      send(res, 204);
    } else if (req.method === 'DELETE' && url.pathname.startsWith('/bff/sessions/')) {
      if (!requireCsrf(req, res) || !requireSession(res)) return;
      const id = decodeURIComponent(url.pathname.slice('/bff/sessions/'.length));
      const before = sessions.length;
      sessions = sessions.filter((s) => s.id !== id);
      if (sessions.length === before) sendProblem(res, 404, 'not_found', 'No such session');
      else send(res, 204);
    } else {
      sendProblem(res, 404, 'not_found', 'Not found');
    }
  }

  const server = createServer((req, res) => {
    open += 1;
    lastActivity = Date.now();
    res.on('close', () => {
      open -= 1;
      lastActivity = Date.now();
    });
    const csrf = req.headers['x-csrf'];
    fake.requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      csrf: typeof csrf === 'string' ? csrf : undefined,
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => route(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://localhost:${(server.address() as AddressInfo).port}`;

  return Object.assign(fake, {
    idle,
    async reset() {
      await idle();
      fake.revoke();
      fake.requests.length = 0;
      fake.failUserWith = undefined;
      fake.failUserHeaders = {};
      fake.userDelayMs = 0;
      fake.endSessionUrl = DEFAULT_END_SESSION_URL;
      admin.reset();
    },
    admin,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  });
}
