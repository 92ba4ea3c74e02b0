import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeDevIdpLogin, DEV_CLIENTS } from '@gatehouse/dev-idp';
import {
  createCookieFetch,
  inspectSession,
  signIn,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { createLogger } from '../src/index.ts';
import { userDigest } from '../src/digest.ts';
import { auditStreamKey } from '../src/observability/audit-stores.ts';
import {
  ADMIN_TOKEN,
  adminCall,
  devIdpProvider,
  withAdminToken,
  type Caller,
} from './support/admin.ts';
import { jsonLines } from './support/json-lines.ts';

interface Event {
  id: string;
  time: string;
  tenant: string;
  actor: { kind: string; id?: string };
  action: string;
  target?: string;
  outcome: string;
  reason?: string;
  requestId?: string;
  ip?: string;
}

interface LogLine extends Partial<Omit<Event, 'id' | 'time'>> {
  level: number;
  msg?: string;
  audit?: boolean;
  log?: string;
  req?: { id?: string; url?: string; method?: string };
  res?: { statusCode?: number };
  user?: string;
  provider?: string;
  errorCode?: string;
  reqId?: string;
}

/**
 * The audit trail over real HTTP, with a real redis-server and the dev IdP: each audited action
 * gives the right event (action, actor kind, outcome, tenant, request id) both in the `audit`
 * log stream and through `GET /admin/api/tenants/:tenant/audit`; the stream is capped; one
 * tenant's admins cannot read another's trail; bad queries are 400s; no token, secret or email
 * ever lands in a trail or an audit line.
 */
let redis: RedisServer;
let stack: Stack;
let origin: string;
const lines: LogLine[] = [];
const operator: Caller = { name: 'operator', bearer: ADMIN_TOKEN };
let acmeKey: Caller & { id: string };
let globexKey: Caller;
const MAX_EVENTS = 40;
let counter = 0;
const requestId = (what: string) => `audit-${what}-${++counter}`;

beforeAll(async () => {
  redis = await startRedisServer();
  // Small stream nodes, so that `MAXLEN ~` trims close to the cap in this test.
  const admin = redis.client();
  await admin.config('SET', 'stream-node-max-entries', '5');
  await admin.quit();
  stack = await startStack({
    redis,
    devIdp: { controlApi: true },
    configure: (input) => ({
      ...withAdminToken(input),
      audit: { maxEvents: MAX_EVENTS, maxAgeDays: 30 },
      // Every proxied success logged: the access-line test reads one (the default samples 1%).
      accessLogSampleRate: 1,
    }),
    deps: { logger: createLogger('info', jsonLines(lines)) },
  });
  origin = stack.origin;
  const issued = await adminCall(origin, operator, 'POST', '/tenants/acme/api-keys', {
    label: 'audit',
  });
  acmeKey = { name: 'acme key', bearer: String(issued.body.key), id: String(issued.body.id) };
  const globex = await adminCall(origin, operator, 'POST', '/tenants/globex/api-keys');
  globexKey = { name: 'globex key', bearer: String(globex.body.key) };
});
afterAll(async () => {
  await stack?.close();
  await redis?.stop();
});

const acmeIssuer = () => stack.idp.issuer('');

/** Polls the endpoint (as the operator) until an event with this request id and action shows. */
async function eventFor(tenant: string, id: string, action: string): Promise<Event> {
  let found: Event | undefined;
  await expect
    .poll(
      async () => {
        const page = await adminCall(
          origin,
          operator,
          'GET',
          `/tenants/${tenant}/audit?action=${action}&limit=1000`,
        );
        expect(page.status, page.text).toBe(200);
        const events = page.body.events as Event[];
        found = events.find((event) => event.requestId === id);
        return found !== undefined;
      },
      { timeout: 10_000 },
    )
    .toBe(true);
  return found!;
}

/** The `audit` log line of that request and action. */
function auditLine(id: string, action: string): LogLine {
  const line = lines.find(
    (entry) => entry.audit === true && entry.requestId === id && entry.action === action,
  );
  if (!line) throw new Error(`no audit line for ${action} of ${id}`);
  expect(line.log).toBe('audit');
  return line;
}

/** The event must be the same in the log stream and the store. */
async function expectEverywhere(
  tenant: string,
  id: string,
  action: string,
  expected: Partial<Event>,
): Promise<Event> {
  const event = await eventFor(tenant, id, action);
  expect(event).toMatchObject({ tenant, action, requestId: id, ...expected });
  expect(event.ip).toMatch(/127\.0\.0\.1$/);
  expect(Date.parse(event.time)).not.toBeNaN();
  const line = auditLine(id, action);
  expect(line).toMatchObject({ tenant, action, requestId: id, ...expected });
  return event;
}

/** A full sign-in through the dev IdP whose callback carries the given request id. */
async function signInWithId(http: CookieFetch, login: string, id: string): Promise<void> {
  const start = await http(`${origin}/bff/login?tenant=acme`);
  const callback = await completeDevIdpLogin(http, start.headers.get('location') ?? '', {
    login,
    password: login,
  });
  const answer = await http(callback, { headers: { 'x-request-id': id } });
  expect(answer.status).toBe(302);
}

describe('audit events', () => {
  it('a sign-in: success by the user (their digest), in the log stream and the trail', async () => {
    const id = requestId('sign-in');
    await signInWithId(createCookieFetch(), 'alice', id);
    await expectEverywhere('acme', id, 'sign-in', {
      outcome: 'success',
      actor: { kind: 'user', id: userDigest(acmeIssuer(), 'alice') },
      target: 'provider:dev',
    });
  });

  it('a failed sign-in: failure by an anonymous caller, with the problem code as reason', async () => {
    const id = requestId('failed');
    const res = await fetch(`${origin}/bff/callback/acme/dev?code=stolen&state=guessed`, {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBe(400);
    await expectEverywhere('acme', id, 'sign-in', {
      outcome: 'failure',
      reason: 'login_transaction_invalid',
      actor: { kind: 'anonymous' },
    });
  });

  it('a failed sign-in at an unknown tenant is logged but not kept in any trail', async () => {
    const id = requestId('unknown-tenant');
    const res = await fetch(`${origin}/bff/callback/no-such-tenant/dev?code=x&state=y`, {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBe(400);
    auditLine(id, 'sign-in');
    await gatehouseInternals(stack.gatehouses[0]!.gatehouse).audit.settled();
    const client = redis.client();
    try {
      expect(await client.exists(auditStreamKey('no-such-tenant'))).toBe(0);
    } finally {
      await client.quit();
    }
  });

  it('a hostile callback path: answered, its audit line holds at most 64 characters of it', async () => {
    const id = requestId('hostile');
    const hostile = `${'x'.repeat(3000)}%0A%22%7D`;
    const res = await fetch(`${origin}/bff/callback/${hostile}/${hostile}?code=c&state=s`, {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const line = auditLine(id, 'sign-in');
    expect(line.tenant).toBe('x'.repeat(64));
    expect(line).toMatchObject({ outcome: 'failure', actor: { kind: 'anonymous' } });
  });

  it('a logout: sign-out and session ended (logout) by the user', async () => {
    const http = createCookieFetch();
    await signIn(http, origin, { login: 'bob', password: 'bob' });
    const id = requestId('logout');
    const res = await http(`${origin}/bff/logout`, {
      method: 'POST',
      headers: { 'x-csrf': '1', 'x-request-id': id },
    });
    expect(res.status).toBe(303);
    const bob = { kind: 'user', id: userDigest(acmeIssuer(), 'bob') };
    await expectEverywhere('acme', id, 'sign-out', { outcome: 'success', actor: bob });
    await expectEverywhere('acme', id, 'session.ended', {
      outcome: 'success',
      reason: 'logout',
      actor: bob,
      target: `user:${bob.id}`,
    });
  });

  it('a back-channel logout: session ended (back-channel) by the provider', async () => {
    const http = createCookieFetch();
    await signIn(http, origin, { login: 'alice', password: 'alice' });
    const { record } = await inspectSession(stack, http);
    const before = lines.length;
    const sent = await fetch(`${stack.idp.origin}/__control/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ realm: '', sub: 'alice', sid: record.idpSid }),
    });
    expect(sent.status).toBe(200);
    // The IdP's request has an id of its own: find it by the access line of the logout.
    let id = '';
    await expect
      .poll(
        () => {
          const line = lines
            .slice(before)
            .find((entry) => entry.req?.url === '/bff/backchannel-logout/acme/dev');
          id = line?.req?.id ?? '';
          return id;
        },
        { timeout: 10_000 },
      )
      .not.toBe('');
    await expectEverywhere('acme', id, 'session.ended', {
      outcome: 'success',
      reason: 'back-channel',
      actor: { kind: 'provider', id: 'dev' },
      target: `user:${userDigest(acmeIssuer(), 'alice')}`,
    });
  });

  it('a provider created, updated, disabled, tested and deleted by a tenant admin API key', async () => {
    const provider = `audited${++counter}`;
    const base = `/tenants/acme/providers/${provider}`;
    const actor = { kind: 'api-key', id: acmeKey.id };
    const target = `provider:${provider}`;
    const steps: Array<[string, string, string, unknown, number]> = [
      [
        'POST',
        '/tenants/acme/providers',
        'provider.created',
        devIdpProvider(stack, provider, '', DEV_CLIENTS.acme.clientSecret),
        201,
      ],
      ['PATCH', base, 'provider.updated', { displayName: 'Renamed' }, 200],
      ['POST', `${base}/test`, 'provider.tested', undefined, 200],
      ['PATCH', base, 'provider.disabled', { enabled: false }, 200],
      ['DELETE', base, 'provider.deleted', undefined, 204],
    ];
    for (const [method, path, action, body, status] of steps) {
      const id = requestId(action);
      const res = await adminCall(origin, acmeKey, method, path, body, { 'x-request-id': id });
      expect(res.status, res.text).toBe(status);
      await expectEverywhere('acme', id, action, { outcome: 'success', actor, target });
    }
  });

  it('a refused admin change is a failure with the problem code', async () => {
    const id = requestId('refused');
    const res = await adminCall(
      origin,
      acmeKey,
      'DELETE',
      '/tenants/acme/providers/dev',
      undefined,
      { 'x-request-id': id },
    );
    expect(res.status).toBe(409);
    const event = await expectEverywhere('acme', id, 'provider.deleted', {
      outcome: 'failure',
      actor: { kind: 'api-key', id: acmeKey.id },
    });
    expect(event.reason).toBe(String(res.body.code));
  });

  it('a provider change by an admin session names the admin by their digest', async () => {
    const alice = createCookieFetch();
    await signIn(alice, origin, { login: 'alice', password: 'alice' });
    const id = requestId('cookie-admin');
    const res = await adminCall(
      origin,
      { name: 'alice', jar: alice },
      'POST',
      '/tenants/acme/providers/dev/test',
      undefined,
      { 'x-request-id': id },
    );
    expect(res.status, res.text).toBe(200);
    await expectEverywhere('acme', id, 'provider.tested', {
      outcome: 'success',
      actor: { kind: 'tenant-admin', id: userDigest(acmeIssuer(), 'alice') },
    });
  });

  it('an API key issued and revoked by the operator', async () => {
    const issueId = requestId('issue');
    const issued = await adminCall(
      origin,
      operator,
      'POST',
      '/tenants/acme/api-keys',
      { label: 'temp' },
      { 'x-request-id': issueId },
    );
    expect(issued.status).toBe(201);
    const target = `api-key:${String(issued.body.id)}`;
    await expectEverywhere('acme', issueId, 'api-key.issued', {
      outcome: 'success',
      actor: { kind: 'operator' },
      target,
    });
    const revokeId = requestId('revoke');
    const revoked = await adminCall(
      origin,
      operator,
      'DELETE',
      `/tenants/acme/api-keys/${String(issued.body.id)}`,
      undefined,
      { 'x-request-id': revokeId },
    );
    expect(revoked.status).toBe(204);
    await expectEverywhere('acme', revokeId, 'api-key.revoked', {
      outcome: 'success',
      actor: { kind: 'operator' },
      target,
    });
  });

  it('sessions ended by an admin: one event per session, reason admin', async () => {
    const http = createCookieFetch();
    await signIn(http, origin, { login: 'bob', password: 'bob' });
    const id = requestId('admin-end');
    const res = await adminCall(
      origin,
      acmeKey,
      'DELETE',
      '/tenants/acme/providers/dev/users/bob/sessions',
      undefined,
      { 'x-request-id': id },
    );
    expect(res.body.ended).toBeGreaterThanOrEqual(1);
    await expectEverywhere('acme', id, 'session.ended', {
      reason: 'admin',
      actor: { kind: 'api-key', id: acmeKey.id },
      target: `user:${userDigest(acmeIssuer(), 'bob')}`,
    });
    await expectEverywhere('acme', id, 'sessions.ended', { outcome: 'success' });
  });
});

describe('reading the trail', () => {
  it('pages oldest first with the cursor, and from an ISO time', async () => {
    const all: Event[] = [];
    let since: string | null = null;
    for (let page = 0; page < 200; page += 1) {
      const query: string = since ? `&since=${since}` : '';
      const answer = await adminCall(origin, acmeKey, 'GET', `/tenants/acme/audit?limit=3${query}`);
      expect(answer.status).toBe(200);
      const events = answer.body.events as Event[];
      expect(events.length).toBeLessThanOrEqual(3);
      all.push(...events);
      since = answer.body.next as string | null;
      if (!since) break;
    }
    expect(since).toBeNull();
    expect(all.length).toBeGreaterThan(6);
    const ids = all.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    const times = all.map((event) => Date.parse(event.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(all.every((event) => event.tenant === 'acme')).toBe(true);

    const middle = all[Math.floor(all.length / 2)]!;
    const fromTime = await adminCall(
      origin,
      acmeKey,
      'GET',
      `/tenants/acme/audit?limit=1000&since=${encodeURIComponent(middle.time)}`,
    );
    const fromEvents = fromTime.body.events as Event[];
    expect(fromEvents.map((event) => event.id)).toContain(middle.id);
    expect(fromEvents.every((event) => Date.parse(event.time) >= Date.parse(middle.time))).toBe(
      true,
    );
  });

  it('filters by action and by kind of action', async () => {
    const only = await adminCall(origin, acmeKey, 'GET', '/tenants/acme/audit?action=sign-in');
    const signIns = only.body.events as Event[];
    expect(signIns.length).toBeGreaterThan(0);
    expect(signIns.every((event) => event.action === 'sign-in')).toBe(true);
    const kind = await adminCall(origin, acmeKey, 'GET', '/tenants/acme/audit?action=provider.');
    const providers = kind.body.events as Event[];
    expect(new Set(providers.map((event) => event.action))).toEqual(
      new Set([
        'provider.created',
        'provider.updated',
        'provider.tested',
        'provider.disabled',
        'provider.deleted',
      ]),
    );
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1&limit=2', 'limit'],
    ['since=yesterday', 'since'],
    ['since=2026-01-01', 'since'],
    [`since=${'9'.repeat(70)}`, 'since'],
    ['action=sign-in%0Aforged', 'action'],
    ['action=nothing', 'action'],
    ['tenant=globex', 'tenant'],
  ])('refuses ?%s with 400 invalid_parameter naming %s', async (query, name) => {
    const res = await adminCall(origin, operator, 'GET', `/tenants/acme/audit?${query}`);
    expect(res.status, res.text).toBe(400);
    expect(res.contentType).toContain('application/problem+json');
    expect(res.body.code).toBe('invalid_parameter');
    expect(String(res.body.detail)).toContain(`"${name}"`);
  });

  it("keeps tenants apart: neither tenant's admins read the other's trail", async () => {
    const alice = createCookieFetch();
    await signIn(alice, origin, { login: 'alice', password: 'alice' });
    const aliceCaller: Caller = { name: 'alice', jar: alice };
    for (const [caller, path] of [
      [acmeKey, '/tenants/globex/audit'],
      [aliceCaller, '/tenants/globex/audit'],
      [globexKey, '/tenants/acme/audit'],
    ] as const) {
      const res = await adminCall(origin, caller, 'GET', path);
      expect(res.status, `${caller.name} ${path}`).toBe(403);
      expect(res.body.code).toBe('tenant_forbidden');
    }
    const own = await adminCall(origin, globexKey, 'GET', '/tenants/globex/audit?limit=1000');
    expect(own.status).toBe(200);
    expect((own.body.events as Event[]).every((event) => event.tenant === 'globex')).toBe(true);
  });

  it('documents the endpoint and its query in the OpenAPI document', async () => {
    const res = await adminCall(origin, operator, 'GET', '/openapi.json');
    const paths = res.body.paths as Record<string, Record<string, Record<string, unknown>>>;
    const operation = paths['/tenants/{tenant}/audit']?.get;
    expect(operation?.operationId).toBe('readAuditTrail');
    const names = (operation?.parameters as Array<{ name: string; in: string }>).map(
      (parameter) => `${parameter.in}:${parameter.name}`,
    );
    expect(names).toEqual(['path:tenant', 'query:since', 'query:action', 'query:limit']);
    expect(Object.keys(operation?.responses as object)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404']),
    );
  });
});

describe('retention and secrecy', () => {
  it('caps each trail (XADD MAXLEN ~): the oldest events go, the newest stay', async () => {
    const client = redis.client();
    try {
      const key = auditStreamKey('globex');
      const ids: string[] = [];
      for (let i = 0; i < MAX_EVENTS * 2; i += 1) {
        const id = requestId('flood');
        ids.push(id);
        const res = await fetch(`${origin}/bff/callback/globex/dev?code=c&state=s`, {
          headers: { 'x-request-id': id },
        });
        expect(res.status).toBe(400);
      }
      await eventFor('globex', ids.at(-1)!, 'sign-in');
      const length = await client.xlen(key);
      // `~` trims whole stream nodes (5 entries here): never more than one node over the cap.
      expect(length).toBeGreaterThanOrEqual(MAX_EVENTS);
      expect(length).toBeLessThanOrEqual(MAX_EVENTS + 5);
      const page = await adminCall(origin, operator, 'GET', '/tenants/globex/audit?limit=1000');
      const kept = (page.body.events as Event[]).map((event) => event.requestId);
      expect(kept).not.toContain(ids[0]);
      expect(kept).toContain(ids.at(-1));
    } finally {
      await client.quit();
    }
  });

  it('never holds a token, a secret or an email address in a trail or an audit line', async () => {
    const http = createCookieFetch();
    await signIn(http, origin, { login: 'alice', password: 'alice' });
    const { tokens } = await inspectSession(stack, http);
    await http(`${origin}/bff/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
    const client = redis.client();
    let stored = '';
    try {
      for (const key of await client.keys('*audit*')) {
        stored += JSON.stringify(await client.xrange(key, '-', '+'));
      }
    } finally {
      await client.quit();
    }
    const audit = JSON.stringify(lines.filter((line) => line.audit === true));
    expect(stored.length).toBeGreaterThan(100);
    for (const secret of [
      tokens.accessToken,
      tokens.refreshToken ?? 'no-refresh-token',
      tokens.idToken ?? 'no-id-token',
      acmeKey.bearer!,
      ADMIN_TOKEN,
      DEV_CLIENTS.acme.clientSecret,
      'alice@acme.test',
      'bob@acme.test',
      'Alice Anderson',
    ]) {
      expect(stored).not.toContain(secret);
      expect(audit).not.toContain(secret);
    }
  });

  it('access-log lines carry tenant, provider and the user digest, never the user', async () => {
    const http = createCookieFetch();
    await signIn(http, origin, { login: 'alice', password: 'alice' });
    const id = requestId('access');
    await http(`${origin}/api/demo/me`, { headers: { 'x-csrf': '1', 'x-request-id': id } });
    let line: LogLine | undefined;
    await expect
      .poll(
        () => {
          line = lines.find((entry) => entry.req?.id === id && entry.res?.statusCode);
          return line !== undefined;
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    expect(line).toMatchObject({
      tenant: 'acme',
      provider: 'dev',
      user: userDigest(acmeIssuer(), 'alice'),
    });
    const failedId = requestId('access-failed');
    await fetch(`${origin}/bff/callback/acme/dev?code=c&state=s`, {
      headers: { 'x-request-id': failedId },
    });
    await expect
      .poll(() => lines.find((entry) => entry.req?.id === failedId && entry.res?.statusCode), {
        timeout: 10_000,
      })
      .toMatchObject({
        tenant: 'acme',
        provider: 'dev',
        errorCode: 'login_transaction_invalid',
      });
    // The error is on the access line: the error handler writes no line of its own.
    expect(lines.filter((entry) => entry.req?.id === failedId || entry.reqId === failedId)).toEqual(
      [expect.objectContaining({ msg: 'request completed', res: { statusCode: 400 } })],
    );
  });
});
