import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../src/config/schema.ts';
import { GatehouseError } from '../src/errors.ts';
import { matchRoute } from '../src/proxy/routes.ts';

function route(prefix: string, upstream: string, extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    prefix,
    upstream,
    tokenMode: 'user',
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    timeoutMs: 10_000,
    idleTimeoutMs: 300_000,
    allowSetCookie: false,
    websocket: false,
    websocketIdleTimeoutMs: 300_000,
    websocketMaxMessageBytes: 1024 * 1024,
    ...extra,
  };
}

const demo = route('/api/demo', 'http://localhost:4001');
const other = route('/api/demo-other', 'http://localhost:4002', { tokenMode: 'none' });
const based = route('/api/based', 'https://api.example.com/v1/', { tokenMode: 'optional' });
const noSlashBase = route('/api/nsb', 'https://api.example.com/v2');
const ROUTES: readonly RouteConfig[] = [demo, other, based, noSlashBase];

function refusal(target: string): GatehouseError {
  try {
    const match = matchRoute(ROUTES, target);
    throw new Error(`matched ${target} to ${match.upstreamUrl.href}`);
  } catch (error) {
    if (error instanceof GatehouseError) return error;
    throw error;
  }
}

describe('matchRoute: matching', () => {
  it.each([
    ['/api/demo', demo, 'http://localhost:4001/'],
    ['/api/demo/', demo, 'http://localhost:4001/'],
    ['/api/demo/notes', demo, 'http://localhost:4001/notes'],
    ['/api/demo/notes/42', demo, 'http://localhost:4001/notes/42'],
    ['/api/demo/notes/', demo, 'http://localhost:4001/notes/'],
    ['/api/demo-other', other, 'http://localhost:4002/'],
    ['/api/demo-other/x', other, 'http://localhost:4002/x'],
    ['/api/based', based, 'https://api.example.com/v1/'],
    ['/api/based/users/7', based, 'https://api.example.com/v1/users/7'],
    ['/api/nsb/users', noSlashBase, 'https://api.example.com/v2/users'],
    ['/api/demo/a.b/c..d/...', demo, 'http://localhost:4001/a.b/c..d/...'],
    ['/api/demo/caf%C3%A9', demo, 'http://localhost:4001/caf%C3%A9'],
    ['/api/demo/a%20b', demo, 'http://localhost:4001/a%20b'],
    ['/api/demo/~user/a-b_c', demo, 'http://localhost:4001/~user/a-b_c'],
  ] as const)('%s → %s', (target, expectedRoute, expectedUrl) => {
    const match = matchRoute(ROUTES, target);
    expect(match.route).toBe(expectedRoute);
    expect(match.upstreamUrl.href).toBe(expectedUrl);
  });

  it('does not let /api/demo capture /api/demo-other or /api/demox', () => {
    expect(matchRoute([demo, other], '/api/demo-other/x').route).toBe(other);
    // With only /api/demo configured, its look-alike siblings are someone else's paths.
    for (const target of ['/api/demo-other/x', '/api/demox', '/api/demo.json', '/api/demo-']) {
      expect(() => matchRoute([demo], target), target).toThrow(
        expect.objectContaining({ status: 404, code: 'not_found' }),
      );
    }
  });

  it('keeps the raw query string, repeated keys and encodings included', () => {
    const match = matchRoute(ROUTES, '/api/demo/search?q=a%2Fb&q=%2e%2e&empty=&x=1');
    expect(match.upstreamUrl.pathname).toBe('/search');
    expect(match.upstreamUrl.search).toBe('?q=a%2Fb&q=%2e%2e&empty=&x=1');
    expect(matchRoute(ROUTES, '/api/demo?x=1').upstreamUrl.href).toBe('http://localhost:4001/?x=1');
    expect(matchRoute(ROUTES, '/api/based/u?y=2').upstreamUrl.href).toBe(
      'https://api.example.com/v1/u?y=2',
    );
  });

  it('lets the query carry what the path may not (it cannot change the path)', () => {
    const match = matchRoute(ROUTES, '/api/demo/x?next=/../admin&p=%2f%2fevil.example');
    expect(match.upstreamUrl.origin).toBe('http://localhost:4001');
    expect(match.upstreamUrl.pathname).toBe('/x');
  });

  it('answers 404 not_found for paths no route owns', () => {
    for (const target of [
      '/api/demox',
      '/api/demox/notes',
      '/api/dem',
      '/api',
      '/api/',
      '/API/demo',
      '/api/Demo/notes',
      '/bff/user',
      '/',
      '/api/unknown/x',
      '/x/api/demo',
    ]) {
      const error = refusal(target);
      expect(error.status, target).toBe(404);
      expect(error.code, target).toBe('not_found');
    }
    expect(() => matchRoute([], '/api/demo')).toThrow(GatehouseError);
  });

  it('picks the first route whose prefix matches when prefixes share a stem', () => {
    const a = route('/api/a', 'http://127.0.0.1:5001');
    const ab = route('/api/a-b', 'http://127.0.0.1:5002');
    expect(matchRoute([a, ab], '/api/a-b/x').route).toBe(ab);
    expect(matchRoute([ab, a], '/api/a/x').route).toBe(a);
  });
});

/** Path tricks that must be refused with 400 invalid_path, never matched or forwarded. */
const HOSTILE_PATHS = [
  '/api/demo/../admin',
  '/api/demo/..',
  '/api/demo/x/..',
  '/api/demo/x/../../admin',
  '/api/demo/./x',
  '/api/demo/.',
  '/api/demo/x/.',
  '/api/../admin',
  '/api/demo/../../etc/passwd',
  '/api/demo/%2e%2e/x',
  '/api/demo/%2E%2E/x',
  '/api/demo/%2e./x',
  '/api/demo/.%2e/x',
  '/api/demo/%2e/x',
  '/api/demo/%2fetc',
  '/api/demo/%2Fetc',
  '/api/demo/x%2f..%2fadmin',
  '/api/demo/%252e%252e/',
  '/api/demo/%252f',
  '/api/demo/%25',
  '/api/demo/%255c',
  '/api/demo/..;/x',
  '/api/demo/.;/x',
  '/api/demo/x;jsessionid=1',
  '/api/demo/..%3b/x',
  '/api/demo/..%3B/x',
  '/api/demo//x',
  '/api/demo//',
  '/api/demo///x',
  '//api/demo/x',
  '/api/demo/x//y',
  '/api/demo\\..\\admin',
  '/api/demo/\\x',
  '/api/demo/%5c',
  '/api/demo/%5C..%5Cadmin',
  '/api/demo/%00',
  '/api/demo/x%00.json',
  '/api/demo/%0d%0aX-Injected:1',
  '/api/demo/%0a',
  '/api/demo/%09',
  '/api/demo/%1f',
  '/api/demo/%7f',
  '/api/demo/%3f/x',
  '/api/demo/%23/x',
  '/api/demo/x#frag',
  '/api/demo/a b',
  '/api/demo/a\tb',
  '/api/demo/a\nb',
  '/api/demo/a\rb',
  '/api/demo/\u0000',
  '/api/demo/\u007f',
  '/api/demo/caf\u00e9',
  '/api/demo/\u2215etc',
  '/api/demo/\uff0e\uff0e/admin',
  '/api/demo/%',
  '/api/demo/%2',
  '/api/demo/%zz',
  '/api/demo/%u002e%u002e/admin',
  '/api/demo/%c0%ae%c0%ae/admin',
  '/api/demo/%c0%af',
  '/api/demo/%e0%80%ae',
  '/api/demo/%ff',
  '/api/demo/../demo-other/x',
  'http://evil.example/api/demo/x',
  '/api/demo/..?x=1',
] as const;

describe('matchRoute: hostile paths', () => {
  it.each(HOSTILE_PATHS.map((target) => [JSON.stringify(target), target] as const))(
    'refuses %s with 400 invalid_path',
    (_label, target) => {
      const error = refusal(target);
      expect(error.status).toBe(400);
      expect(error.code).toBe('invalid_path');
    },
  );

  it('refuses them whatever the route table, even an empty one', () => {
    for (const target of HOSTILE_PATHS) {
      expect(() => matchRoute([], target)).toThrow(
        expect.objectContaining({ status: 400, code: 'invalid_path' }),
      );
    }
  });
});

describe('matchRoute: the upstream URL never leaves the upstream', () => {
  const upstreams = [
    'http://localhost:4001',
    'http://127.0.0.1:4001/',
    'https://api.example.com/v1',
    'https://api.example.com/v1/',
    'https://api.example.com/deep/base/path',
  ];
  const suffixes = [
    '',
    '/',
    '/x',
    '/x/y/z',
    '/@evil.example',
    '/:evil.example',
    '/evil.example:80',
    '/x?//evil.example',
    '/x?@evil.example#frag',
    '?https://evil.example',
    '/%40evil.example',
    '/..',
    '/%2e%2e',
    '//evil.example',
    '/\\evil.example',
    '/%2f%2fevil.example',
  ];

  it('keeps the origin and base path for every suffix it accepts', () => {
    let accepted = 0;
    for (const upstream of upstreams) {
      const r = route('/api/t', upstream);
      const base = new URL(upstream);
      const basePath = base.pathname.replace(/\/$/, '');
      for (const suffix of suffixes) {
        let url: URL;
        try {
          url = matchRoute([r], `/api/t${suffix}`).upstreamUrl;
        } catch (error) {
          expect(error).toBeInstanceOf(GatehouseError);
          continue;
        }
        accepted += 1;
        expect(url.origin).toBe(base.origin);
        expect(url.pathname.startsWith(`${basePath}/`)).toBe(true);
        expect(url.username).toBe('');
        expect(url.password).toBe('');
      }
    }
    expect(accepted).toBeGreaterThanOrEqual(upstreams.length * 9);
  });

  it('returns a fresh URL each time (callers may not corrupt the route table)', () => {
    const first = matchRoute(ROUTES, '/api/demo/x').upstreamUrl;
    first.pathname = '/changed';
    expect(matchRoute(ROUTES, '/api/demo/x').upstreamUrl.pathname).toBe('/x');
    expect(demo.upstream).toBe('http://localhost:4001');
  });
});
