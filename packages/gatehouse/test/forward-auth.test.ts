import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigError } from '../src/config/load.ts';
import type { RouteConfig } from '../src/config/schema.ts';
import {
  assertCsrf,
  gatewayRoute,
  headerSafe,
  identityHeaders,
  needsSession,
  originalRequest,
} from '../src/proxy/forward-auth.ts';
import type { SessionRecord } from '../src/session/model.ts';

/** The decisions of gateway mode (`proxy/forward-auth.ts`) and its configuration. */
describe('originalRequest', () => {
  it('believes nothing from an untrusted peer, even well-formed headers', () => {
    expect(() =>
      originalRequest(false, { 'x-original-method': 'GET', 'x-original-uri': '/x' }),
    ).toThrow(expect.objectContaining({ code: 'gateway_untrusted', status: 403 }));
  });

  it('reads either spelling, or both when they agree', () => {
    expect(
      originalRequest(true, { 'x-forwarded-method': 'PUT', 'x-forwarded-uri': '/a?b=c' }),
    ).toEqual({ method: 'PUT', uri: '/a?b=c' });
    expect(
      originalRequest(true, {
        'x-original-method': 'GET',
        'x-forwarded-method': 'GET',
        'x-original-uri': '/a',
        'x-forwarded-uri': '/a',
      }),
    ).toEqual({ method: 'GET', uri: '/a' });
  });

  it.each([
    ['no method', { 'x-original-uri': '/a' }],
    ['no URI', { 'x-original-method': 'GET' }],
    ['an array', { 'x-original-method': ['GET', 'POST'], 'x-original-uri': '/a' }],
    [
      'disagreeing methods',
      { 'x-original-method': 'GET', 'x-forwarded-method': 'POST', 'x-original-uri': '/a' },
    ],
    ['joined repeats', { 'x-original-method': 'GET, POST', 'x-original-uri': '/a' }],
    ['an absolute URI', { 'x-original-method': 'GET', 'x-original-uri': 'https://evil/a' }],
    ['a control byte in the method', { 'x-original-method': 'G\u0000T', 'x-original-uri': '/a' }],
  ])('refuses %s (gateway_request_invalid)', (_name, headers) => {
    expect(() => originalRequest(true, headers)).toThrow(
      expect.objectContaining({ code: 'gateway_request_invalid', status: 400 }),
    );
  });

  it.each(['/a/../b', '/a/%2e%2e/b', '/a%2fb', '/a//b', '/a\\b', '/a;x', '/\u00e9'])(
    'refuses the path %s as the API proxy does (invalid_path)',
    (uri) => {
      expect(() =>
        originalRequest(true, { 'x-original-method': 'GET', 'x-original-uri': uri }),
      ).toThrow(expect.objectContaining({ code: 'invalid_path' }));
    },
  );

  it('checks only the path, not the query', () => {
    expect(
      originalRequest(true, { 'x-original-method': 'GET', 'x-original-uri': '/a?next=/b/../c' }),
    ).toEqual({ method: 'GET', uri: '/a?next=/b/../c' });
  });
});

describe('assertCsrf', () => {
  const ORIGIN = 'https://app.example.com';
  const check =
    (method: string, headers: Record<string, string> = {}) =>
    () =>
      assertCsrf({ method, uri: '/' }, headers, ORIGIN);

  it('lets safe methods through on the cookie alone', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) expect(check(method)).not.toThrow();
  });

  it('requires X-CSRF: 1 for every other method, including odd spellings', () => {
    for (const method of ['POST', 'DELETE', 'get', 'Get', 'PROPFIND', 'TRACE']) {
      expect(check(method)).toThrow(expect.objectContaining({ code: 'csrf_header_required' }));
    }
    expect(check('POST', { 'x-csrf': '1, 1' })).toThrow(
      expect.objectContaining({ code: 'csrf_header_required' }),
    );
    expect(check('POST', { 'x-csrf': '1', origin: ORIGIN })).not.toThrow();
  });

  it('refuses a foreign origin or a cross-site fetch whatever the method', () => {
    for (const method of ['GET', 'POST']) {
      const foreign: Array<Record<string, string>> = [
        { origin: 'https://app.example.com.evil.example' },
        { origin: 'http://app.example.com' },
        { 'sec-fetch-site': 'cross-site' },
      ];
      for (const headers of foreign) {
        expect(check(method, { 'x-csrf': '1', ...headers })).toThrow(
          expect.objectContaining({ code: 'foreign_origin' }),
        );
      }
    }
    expect(check('GET', { 'sec-fetch-site': 'same-site' })).not.toThrow();
  });
});

describe('gatewayRoute', () => {
  const route = (prefix: string, extra: Partial<RouteConfig> = {}): RouteConfig => ({
    prefix,
    upstream: 'http://api.internal',
    tokenMode: 'user',
    methods: ['GET', 'POST'],
    timeoutMs: 10_000,
    idleTimeoutMs: 300_000,
    allowSetCookie: false,
    ...extra,
  });
  const routes = [route('/api/orders'), route('/api/public', { tokenMode: 'optional' })];

  it('names a route, falls back to the default one, or none', () => {
    expect(gatewayRoute(routes, 'orders', undefined, 'GET')?.prefix).toBe('/api/orders');
    expect(gatewayRoute(routes, undefined, 'public', 'GET')?.prefix).toBe('/api/public');
    expect(gatewayRoute(routes, 'orders', 'public', 'GET')?.prefix).toBe('/api/orders');
    expect(gatewayRoute(routes, undefined, undefined, 'DELETE')).toBeUndefined();
  });

  it.each(['nope', '', '../orders', 'orders/x', 'ORDERS', 'api/orders'])(
    'refuses the unknown name %j (not_found)',
    (name) => {
      expect(() => gatewayRoute(routes, name, undefined, 'GET')).toThrow(
        expect.objectContaining({ code: 'not_found' }),
      );
    },
  );

  it('applies the route’s method allow-list to the original method', () => {
    expect(() => gatewayRoute(routes, 'orders', undefined, 'DELETE')).toThrow(
      expect.objectContaining({ code: 'method_not_allowed', headers: { allow: 'GET, POST' } }),
    );
  });

  it('lets anonymous calls through only for optional and none routes', () => {
    expect(needsSession(undefined)).toBe(true);
    expect(needsSession(route('/api/a'))).toBe(true);
    expect(needsSession(route('/api/a', { tokenMode: 'gatehouse' }))).toBe(true);
    expect(needsSession(route('/api/a', { tokenMode: 'optional' }))).toBe(false);
    expect(needsSession(route('/api/a', { tokenMode: 'none' }))).toBe(false);
  });
});

describe('identity headers', () => {
  it('keeps visible ASCII and percent-encodes the rest, so no IdP value can break a header', () => {
    expect(headerSafe('auth0|5f1c-42')).toBe('auth0|5f1c-42');
    expect(headerSafe('zoë\r\nx-admin: 1')).toBe('zo%C3%AB%0D%0Ax-admin:%201');
    expect(headerSafe('100%')).toBe('100%25');
    expect(headerSafe('\ud800')).toBe('%EF%BF%BD');
    expect(decodeURIComponent(headerSafe('ü %25 \u{1f600}'))).toBe('ü %25 \u{1f600}');
  });

  it('names the subject, issuer, tenant, provider and session handle — never the session id', () => {
    const record = {
      sub: 'user\r\n1',
      issuer: 'https://idp.example.com/',
      tenant: 'acme',
      provider: 'dev',
      handle: 'h4ndle',
    } as SessionRecord;
    const headers = identityHeaders(record);
    expect(headers).toEqual({
      'x-gatehouse-subject': 'user%0D%0A1',
      'x-gatehouse-issuer': 'https://idp.example.com/',
      'x-gatehouse-tenant': 'acme',
      'x-gatehouse-provider': 'dev',
      'x-gatehouse-session': 'h4ndle',
    });
    for (const value of Object.values(headers)) expect(value).toMatch(/^[\x21-\x7e]+$/);
  });
});

describe('gateway configuration', () => {
  const secret = () => randomBytes(32).toString('base64url');
  const production = (extra: Record<string, string> = {}) => ({
    GATEHOUSE_MODE: 'production',
    PUBLIC_URL: 'https://app.example.com',
    SESSION_SECRET: secret(),
    GATEHOUSE_ENCRYPTION_KEYS: `k1:${secret()}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    ...extra,
  });

  it('is off in production and on in development unless configured', () => {
    expect(loadConfig({ env: production() }).config.gateway.enabled).toBe(false);
    expect(loadConfig({ env: { GATEHOUSE_MODE: 'development' } }).config.gateway.enabled).toBe(
      true,
    );
    expect(
      loadConfig({ env: production({ GATEHOUSE_GATEWAY: 'true' }) }).config.gateway.enabled,
    ).toBe(true);
    expect(
      loadConfig({ env: { GATEHOUSE_MODE: 'development', GATEHOUSE_GATEWAY: 'false' } }).config
        .gateway.enabled,
    ).toBe(false);
  });

  it('takes a default route that must exist', () => {
    const env = { GATEHOUSE_MODE: 'development', GATEHOUSE_GATEWAY_ROUTE: 'demo-gh' };
    expect(loadConfig({ env }).config.gateway).toEqual({ enabled: true, route: 'demo-gh' });
    const problems = (() => {
      try {
        loadConfig({ env: { ...env, GATEHOUSE_GATEWAY_ROUTE: 'orders' } });
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    })();
    expect(problems).toContain('gateway.route: no route has the prefix "/api/orders"');
  });

  it('reports a bad switch or field with the others', () => {
    try {
      loadConfig({
        env: production({ GATEHOUSE_GATEWAY: 'yes' }),
        input: {
          mode: 'production',
          publicUrl: 'https://app.example.com',
          gateway: { route: 'A B', extra: 1 },
        } as never,
      });
      expect.unreachable();
    } catch (error) {
      const { problems } = error as ConfigError;
      expect(problems).toContain('GATEHOUSE_GATEWAY: must be "true" or "false"');
      expect(problems).toContain('gateway.route: must be a route name (the <name> of /api/<name>)');
      expect(problems).toContain('gateway: Unrecognized key: "extra"');
    }
  });

  it('warns when the gateway is on and TRUST_PROXY trusts any peer', () => {
    const warned = (trust: string) =>
      loadConfig({
        env: production({ GATEHOUSE_GATEWAY: 'true', TRUST_PROXY: trust }),
      }).warnings.some((w) => w.startsWith('gateway mode is on and TRUST_PROXY trusts any peer'));
    expect(warned('true')).toBe(true);
    expect(warned('1')).toBe(true);
    expect(warned('10.0.0.5')).toBe(false);
    expect(warned('0')).toBe(false);
  });
});
