import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  freePort,
  signIn,
  startRedisServer,
  startServerProcess,
  startStack,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { gatehouseInternals } from '@gatehouse/core/testing';
import { createGatehouse, createLogger, loadConfig } from '../src/index.ts';
import { promtoolCheckMetrics, scrape, type Scrape } from './support/scrape.ts';

const csrf = { 'x-csrf': '1' };

/** Label values each label of a `gatehouse_` family may take: fixed lists, nothing from a request. */
const BOUNDED: Record<string, (value: string) => boolean> = {
  route: (v) =>
    [
      'bff',
      'admin',
      'static',
      'health',
      'api:other',
      'api:demo',
      'api:demo-gh',
      'api:public',
    ].includes(v),
  method: (v) => ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other'].includes(v),
  status: (v) => v === 'aborted' || /^[1-5]\d\d$/.test(v),
  status_class: (v) => ['1xx', '2xx', '3xx', '4xx', '5xx', 'aborted'].includes(v),
  tenant: (v) => ['acme', 'globex', 'other'].includes(v),
  provider: (v) => ['dev', 'other'].includes(v),
  stage: (v) => ['started', 'succeeded', 'failed'].includes(v),
  reason: (v) => /^[a-z_]{2,40}$/.test(v),
  outcome: (v) => /^[a-z_]{2,40}$/.test(v),
  endpoint: (v) => ['discovery', 'token', 'revocation', 'jwks', 'userinfo', 'other'].includes(v),
  kind: (v) => ['timeout', 'unavailable', 'broken'].includes(v),
  store: (v) => ['session', 'kv', 'registry'].includes(v),
  operation: (v) => /^[a-z_]{2,30}$/.test(v),
  limit: (v) => /^[a-z_]{2,30}$/.test(v),
  le: () => true,
};

/** The ports a process listens on (TCP), from its own socket descriptors and /proc/net. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is fields[1] (hex ip:port), st fields[3] (0A = LISTEN), inode fields[9].
      if (fields[3] === '0A' && fields[9] && inodes.has(fields[9])) {
        ports.add(parseInt(fields[1]?.split(':')[1] ?? '0', 16));
      }
    }
  }
  return [...ports].sort((a, b) => a - b);
}

describe('Prometheus metrics', () => {
  let redis: RedisServer;
  let stack: Stack;
  let metricsOrigin: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    stack = await startStack({
      redis,
      metrics: true,
      devIdp: { controlApi: true },
      // Access tokens live 300 s: with this skew every proxied call refreshes first.
      configure: (input) => ({ ...input, refreshSkewSeconds: 3600 }),
    });
    metricsOrigin = stack.gatehouses[0]?.metricsOrigin ?? '';
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.stop();
  });

  async function idpControl(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${stack.idp.origin}/__control/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  it('serves the metrics on their own listener only, never on the public port', async () => {
    expect(metricsOrigin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const own = await fetch(`${metricsOrigin}/metrics`);
    expect(own.status).toBe(200);
    expect(await own.text()).toContain('# TYPE gatehouse_http_requests_total counter');

    const publicAnswer = await fetch(`${stack.origin}/metrics`);
    const body = await publicAnswer.text();
    expect(publicAnswer.status).toBe(404);
    expect(publicAnswer.headers.get('content-type')).toContain('application/problem+json');
    expect(body).not.toContain('gatehouse_');
    expect(body).not.toContain('# TYPE');

    expect((await fetch(`${metricsOrigin}/`)).status).toBe(404);
    expect((await fetch(`${metricsOrigin}/metrics`, { method: 'POST' })).status).toBe(404);
  });

  it('counts the start-up warm-up: each provider discovered once and its key set fetched once', async () => {
    const atStart = await scrape(metricsOrigin);
    for (const provider of [
      { tenant: 'acme', provider: 'dev' },
      { tenant: 'globex', provider: 'dev' },
    ]) {
      expect(
        atStart.sum('gatehouse_idp_requests_total', { ...provider, endpoint: 'discovery' }),
      ).toBe(1);
      expect(
        atStart.sum('gatehouse_idp_requests_total', {
          ...provider,
          endpoint: 'jwks',
          outcome: 'ok',
        }),
      ).toBe(1);
    }
  });

  it('counts a login, a proxied call with its refresh, a failed login and a back-channel logout', async () => {
    const before = await scrape(metricsOrigin);
    const delta = async () => {
      const after = await scrape(metricsOrigin);
      return (name: string, labels: Record<string, string> = {}) =>
        after.sum(name, labels) - (before.families.has(name) ? before.sum(name, labels) : 0);
    };

    const alice = createCookieFetch();
    await signIn(alice, stack.origin, { login: 'alice', password: 'alice' });
    expect((await alice(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(200);
    // A callback whose state was never issued: a failed login.
    const failed = await fetch(`${stack.origin}/bff/callback/acme/dev?code=x&state=forged`);
    expect(failed.status).toBe(400);
    // The IdP ends alice's sessions by back-channel logout.
    const sent = await idpControl('backchannel-logout', { realm: '', sub: 'alice' });
    expect(sent.delivered).toEqual(['gatehouse-acme']);
    expect((await alice(`${stack.origin}/api/demo/me`, { headers: csrf })).status).toBe(401);

    const d = await delta();
    const login = { tenant: 'acme', provider: 'dev' };
    expect(d('gatehouse_logins_total', { ...login, stage: 'started' })).toBe(1);
    expect(d('gatehouse_logins_total', { ...login, stage: 'succeeded' })).toBe(1);
    expect(d('gatehouse_logins_total', { ...login, stage: 'failed' })).toBe(1);
    expect(
      d('gatehouse_login_failures_total', { ...login, reason: 'login_transaction_invalid' }),
    ).toBe(1);
    expect(d('gatehouse_sessions_created_total', { tenant: 'acme' })).toBe(1);
    expect(
      d('gatehouse_http_requests_total', { route: 'api:demo', method: 'GET', status: '200' }),
    ).toBe(1);
    expect(
      d('gatehouse_http_requests_total', { route: 'api:demo', method: 'GET', status: '401' }),
    ).toBe(1);
    expect(d('gatehouse_http_requests_total', { route: 'bff', method: 'GET', status: '302' })).toBe(
      2,
    ); // the login start and the callback
    expect(d('gatehouse_upstream_duration_seconds', { route: 'api:demo' })).toBe(1);
    expect(d('gatehouse_refreshes_total', { outcome: 'ok' })).toBe(1);
    expect(d('gatehouse_refresh_duration_seconds', { outcome: 'ok' })).toBe(1);
    // The code exchange and the refresh, both at the token endpoint.
    expect(d('gatehouse_idp_requests_total', { ...login, endpoint: 'token', outcome: 'ok' })).toBe(
      2,
    );
    // The logout token's key set (jose) only: the start-up warm-up fetched the discovery
    // document and the ID token's key set (openid-client's) before this test signed in.
    expect(d('gatehouse_idp_requests_total', { ...login, endpoint: 'jwks', outcome: 'ok' })).toBe(
      1,
    );
    expect(d('gatehouse_idp_requests_total', { ...login, endpoint: 'discovery' })).toBe(0);
    expect(d('gatehouse_backchannel_logouts_total', { outcome: 'ok' })).toBe(1);
    expect(d('gatehouse_sessions_ended_total', { reason: 'backchannel' })).toBe(1);
    // Store operations are timed: at least the session reads of both proxied calls.
    expect(
      d('gatehouse_store_operation_duration_seconds', { store: 'session', operation: 'get' }),
    ).toBeGreaterThanOrEqual(2);
    expect(d('gatehouse_store_errors_total')).toBe(0);
  });

  it('times the registry store too: the snapshot each instance reads at start', async () => {
    const result = await scrape(metricsOrigin);
    expect(
      result.sum('gatehouse_store_operation_duration_seconds', {
        store: 'registry',
        operation: 'snapshot',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(result.sum('gatehouse_store_errors_total', { store: 'registry' })).toBe(0);
  });

  it('keeps every label value bounded: no raw path, user id or request-chosen string', async () => {
    const marker = 'zq9hostile';
    const hostile = [
      `/api/${marker}-route/alice`,
      `/api/demo/${marker}/users/alice`,
      `/api/demo/%2e%2e/${marker}`,
      `/bff/${marker}?sub=alice`,
      `/bff/callback/${marker}/${marker}?state=${marker}&code=alice`,
      `/bff/callback/acme/${marker}?state=x`,
      `/bff/login?tenant=${marker}&provider=${marker}`,
      `/bff/backchannel-logout/${marker}/${marker}`,
      `/admin/api/tenants/${marker}`,
      `/${marker}/alice/${'x'.repeat(2000)}`,
      `/healthz/${marker}`,
    ];
    for (const path of hostile) {
      const res = await fetch(`${stack.origin}${path}`, {
        method: path.includes('backchannel') ? 'POST' : 'GET',
        headers: csrf,
      });
      await res.arrayBuffer();
      expect(res.status).toBeGreaterThanOrEqual(300);
    }
    for (const method of ['PROPFIND', 'BREW', 'PATCH']) {
      const res = await fetch(`${stack.origin}/api/demo/${marker}`, { method, headers: csrf });
      await res.arrayBuffer();
    }

    const after = await scrape(metricsOrigin);
    expect(after.text).not.toContain(marker);
    expect(after.text).not.toContain('alice');
    for (const [name, family] of after.families) {
      if (!name.startsWith('gatehouse_')) continue;
      for (const sample of family.samples) {
        for (const [label, value] of Object.entries(sample.labels)) {
          const allowed = BOUNDED[label];
          expect(allowed, `label ${label} of ${name}`).toBeDefined();
          expect(allowed?.(value), `${name}{${label}="${value}"}`).toBe(true);
        }
      }
    }
    const routes = after.labelValues('gatehouse_http_requests_total', 'route');
    expect(routes).toEqual(expect.arrayContaining(['api:demo', 'api:other', 'bff', 'static']));
    expect(after.labelValues('gatehouse_http_requests_total', 'method')).toContain('other');
  });

  it('passes promtool check metrics', async () => {
    const { text } = await scrape(metricsOrigin);
    // Gatehouse's own families: no finding at all.
    const own = text
      .split('\n')
      .filter((line) => /^(# (HELP|TYPE) )?gatehouse_/.test(line))
      .join('\n');
    expect(promtoolCheckMetrics(`${own}\n`)).toEqual({ status: 0, output: '' });
    // The whole scrape: only prom-client's three gauges named `_total` are linted.
    const all = promtoolCheckMetrics(text);
    const findings = all.output.split('\n').filter(Boolean);
    expect(findings.filter((line) => !/^nodejs_active_\w+_total non-counter/.test(line))).toEqual(
      [],
    );
  });

  it('scrapes the default process metrics too', async () => {
    const result: Scrape = await scrape(metricsOrigin);
    expect(result.families.get('process_cpu_seconds_total')?.type).toBe('COUNTER');
    expect(result.families.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts the time the event loop was busy', async () => {
    const busy = (result: Scrape) =>
      result.families.get('gatehouse_event_loop_busy_seconds_total')?.samples[0]?.value ?? NaN;
    const before = await scrape(metricsOrigin);
    expect(before.families.get('gatehouse_event_loop_busy_seconds_total')?.type).toBe('COUNTER');
    // 200 ms of work on this very loop (the instance runs in the test's process).
    const until = performance.now() + 200;
    while (performance.now() < until);
    const after = await scrape(metricsOrigin);
    expect(busy(after) - busy(before)).toBeGreaterThanOrEqual(0.19);
    expect(busy(after) - busy(before)).toBeLessThan(5);
  });
});

describe('METRICS_PORT', () => {
  const env = (extra: Record<string, string>) => ({
    GATEHOUSE_MODE: 'development',
    PUBLIC_URL: 'http://localhost:3000',
    SESSION_SECRET: 'test-session-secret-0123456789abcdef',
    ...extra,
  });

  it('0: no registry and no listener in the library', async () => {
    const { config } = loadConfig({ env: env({ METRICS_PORT: '0' }) });
    expect(config.metrics).toEqual({ port: 0, host: '127.0.0.1' });
    const gatehouse = createGatehouse(config, { logger: createLogger('silent') });
    try {
      expect(gatehouseInternals(gatehouse).metrics.enabled).toBe(false);
      expect(await gatehouse.listenMetrics()).toBeUndefined();
    } finally {
      await gatehouse.close();
    }
  });

  it('defaults to 127.0.0.1:9464 and refuses a port that is not one', () => {
    expect(loadConfig({ env: env({}) }).config.metrics).toEqual({ port: 9464, host: '127.0.0.1' });
    expect(() => loadConfig({ env: env({ METRICS_PORT: 'nine' }) })).toThrow(/metrics\.port/);
    expect(() => loadConfig({ env: env({ METRICS_PORT: '70000' }) })).toThrow(/metrics\.port/);
  });

  it('the server listens for metrics on METRICS_PORT, and on nothing but its port with 0', async () => {
    const [withMetrics, metricsPort, without] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    const on = await startServerProcess(withMetrics, env({ METRICS_PORT: String(metricsPort) }));
    try {
      expect(listeningPorts(on.pid)).toEqual([withMetrics, metricsPort].sort((a, b) => a - b));
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('gatehouse_http_requests_total');
    } finally {
      await on.stop();
    }
    const off = await startServerProcess(without, env({ METRICS_PORT: '0' }));
    try {
      expect(listeningPorts(off.pid)).toEqual([without]);
      expect(off.output()).not.toContain('metrics listening');
    } finally {
      await off.stop();
    }
  });
});
