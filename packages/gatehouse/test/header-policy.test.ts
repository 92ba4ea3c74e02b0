import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  downstreamResponseHeaders,
  upstreamRequestHeaders,
  type ForwardingContext,
} from '../src/proxy/headers.ts';

const context: ForwardingContext = {
  clientIp: '203.0.113.7',
  publicUrl: new URL('https://app.example.com'),
  requestId: 'req-123',
};

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'http2-settings',
];

describe('upstreamRequestHeaders', () => {
  it('drops the browser’s credentials, Host and our CSRF marker', () => {
    const out = upstreamRequestHeaders(
      {
        cookie: '__Host-gatehouse=s%3Aabc',
        authorization: 'Bearer browser-supplied',
        host: 'evil.example',
        'x-csrf': '1',
        accept: 'application/json',
      },
      context,
    );
    expect(out.cookie).toBeUndefined();
    expect(out.authorization).toBeUndefined();
    expect(out.host).toBeUndefined();
    expect(out['x-csrf']).toBeUndefined();
    expect(out.accept).toBe('application/json');
  });

  it('replaces Authorization with ours only when one is given', () => {
    const incoming = { authorization: 'Basic YWxpY2U6YWxpY2U=' };
    expect(upstreamRequestHeaders(incoming, context).authorization).toBeUndefined();
    const withToken = upstreamRequestHeaders(incoming, {
      ...context,
      authorization: 'Bearer ours',
    });
    expect(withToken.authorization).toBe('Bearer ours');
  });

  it('never passes on a browser’s DPoP proof; sends ours only with our DPoP authorization', () => {
    const incoming = { authorization: 'DPoP stolen', dpop: 'browser.made.proof' };
    const bare = upstreamRequestHeaders(incoming, context);
    expect(bare.authorization).toBeUndefined();
    expect(bare.dpop).toBeUndefined();
    const bound = upstreamRequestHeaders(incoming, {
      ...context,
      authorization: 'DPoP ours',
      dpop: 'our.fresh.proof',
    });
    expect(bound).toMatchObject({ authorization: 'DPoP ours', dpop: 'our.fresh.proof' });
  });

  it.each(HOP_BY_HOP)('drops the hop-by-hop header %s', (name) => {
    const out = upstreamRequestHeaders({ [name]: 'x', 'x-kept': 'yes' }, context);
    expect(out[name]).toBeUndefined();
    expect(out['x-kept']).toBe('yes');
  });

  it('drops headers the client named in Connection, in any case and spacing', () => {
    const out = upstreamRequestHeaders(
      {
        connection: 'keep-alive, X-Foo ,x-bar,,  ',
        'x-foo': 'secret hop',
        'x-bar': 'another',
        'x-baz': 'kept',
      },
      context,
    );
    expect(out['x-foo']).toBeUndefined();
    expect(out['x-bar']).toBeUndefined();
    expect(out['x-baz']).toBe('kept');
    expect(out.connection).toBeUndefined();
  });

  it('cannot be talked into dropping our own headers through Connection', () => {
    const out = upstreamRequestHeaders(
      { connection: 'authorization, x-forwarded-for, x-forwarded-host, x-request-id' },
      { ...context, authorization: 'Bearer ours' },
    );
    expect(out.authorization).toBe('Bearer ours');
    expect(out['x-forwarded-for']).toBe('203.0.113.7');
    expect(out['x-forwarded-host']).toBe('app.example.com');
    expect(out['x-request-id']).toBe('req-123');
  });

  it('replaces client-sent forwarding headers with ours from the trusted context', () => {
    const out = upstreamRequestHeaders(
      {
        forwarded: 'for=6.6.6.6;host=evil.example;proto=http',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
        'x-forwarded-port': '81',
        'x-forwarded-prefix': '/admin',
        'x-forwarded-server': 'evil',
        'x-forwarded-ssl': 'on',
        'x-real-ip': '6.6.6.6',
        'x-client-ip': '6.6.6.6',
        'true-client-ip': '6.6.6.6',
        'cf-connecting-ip': '6.6.6.6',
        'x-request-id': 'client-chosen',
      },
      context,
    );
    expect(out).toEqual({
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'app.example.com',
      'x-request-id': 'req-123',
    });
  });

  it('sends no X-Forwarded-For at all when the client address is unknown', () => {
    const out = upstreamRequestHeaders(
      { 'x-forwarded-for': '6.6.6.6' },
      { ...context, clientIp: undefined, publicUrl: new URL('http://localhost:3000') },
    );
    expect(out['x-forwarded-for']).toBeUndefined();
    expect(out['x-forwarded-proto']).toBe('http');
    expect(out['x-forwarded-host']).toBe('localhost:3000');
  });

  it('drops rewrite and method-override headers that would get round the route checks', () => {
    const out = upstreamRequestHeaders(
      {
        'x-original-url': '/admin',
        'x-rewrite-url': '/admin',
        'x-original-host': 'evil.example',
        'x-host': 'evil.example',
        'x-http-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-method-override': 'DELETE',
      },
      context,
    );
    for (const name of [
      'x-original-url',
      'x-rewrite-url',
      'x-original-host',
      'x-host',
      'x-http-method-override',
      'x-http-method',
      'x-method-override',
    ]) {
      expect(out[name], name).toBeUndefined();
    }
  });

  // Regression: undici throws "expect header not supported", which turned an upload with
  // `Expect: 100-continue` (curl sends it for large bodies) into a 502.
  it('drops Expect (Node already answered 100-continue)', () => {
    expect(upstreamRequestHeaders({ expect: '100-continue' }, context).expect).toBeUndefined();
  });

  // With tracing on, the undici instrumentation adds Gatehouse's own traceparent: a browser's
  // would make two (the upstream would see "a, b"); with tracing off it is not trusted either.
  it('drops browser-sent trace context (traceparent, tracestate, baggage)', () => {
    const out = upstreamRequestHeaders(
      {
        traceparent: `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`,
        tracestate: 'vendor=x',
        baggage: 'user=mallory',
        accept: 'application/json',
      },
      context,
    );
    expect(out.traceparent).toBeUndefined();
    expect(out.tracestate).toBeUndefined();
    expect(out.baggage).toBeUndefined();
    expect(out.accept).toBe('application/json');
  });

  it('keeps content negotiation, body and custom headers untouched', () => {
    const incoming: IncomingHttpHeaders = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': '42',
      accept: 'application/json',
      'accept-language': 'de-CH',
      'accept-encoding': 'gzip',
      'if-none-match': '"v1"',
      'user-agent': 'test',
      'x-custom': 'value',
      'x-tenant-hint': 'acme',
      'x-multi': ['a', 'b'],
    };
    const out = upstreamRequestHeaders(incoming, context);
    for (const [name, value] of Object.entries(incoming)) expect(out[name], name).toEqual(value);
  });

  it('does not mutate the incoming headers', () => {
    const incoming: IncomingHttpHeaders = { cookie: 'a=b', connection: 'x-foo', 'x-foo': '1' };
    const copy = structuredClone(incoming);
    upstreamRequestHeaders(incoming, { ...context, authorization: 'Bearer ours' });
    expect(incoming).toEqual(copy);
  });
});

describe('downstreamResponseHeaders', () => {
  it.each(HOP_BY_HOP)('drops the hop-by-hop header %s', (name) => {
    const out = downstreamResponseHeaders(
      { [name]: 'x', 'x-kept': 'yes' },
      { allowSetCookie: true },
    );
    expect(out[name]).toBeUndefined();
    expect(out['x-kept']).toBe('yes');
  });

  it('drops headers the upstream named in Connection, whatever their case', () => {
    const out = downstreamResponseHeaders(
      { Connection: 'X-Internal-Debug, close', 'x-internal-debug': 'db=prod-1', etag: '"1"' },
      { allowSetCookie: false },
    );
    expect(out['x-internal-debug']).toBeUndefined();
    expect(out.connection).toBeUndefined();
    expect(out.etag).toBe('"1"');
  });

  it('drops Set-Cookie unless the route allows it', () => {
    const upstream = {
      'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
      'content-type': 'text/plain',
    };
    expect(
      downstreamResponseHeaders(upstream, { allowSetCookie: false })['set-cookie'],
    ).toBeUndefined();
    expect(
      downstreamResponseHeaders({ 'Set-Cookie': 'a=1' }, { allowSetCookie: false })['set-cookie'],
    ).toBeUndefined();
    expect(downstreamResponseHeaders(upstream, { allowSetCookie: true })['set-cookie']).toEqual([
      'a=1; Path=/',
      'b=2; HttpOnly',
    ]);
  });

  it('keeps the rest, lower-cased, and skips undefined values', () => {
    const out = downstreamResponseHeaders(
      {
        'Content-Type': 'application/json',
        'content-length': '12',
        'cache-control': 'no-store',
        etag: '"abc"',
        location: '/next',
        'www-authenticate': 'Bearer error="invalid_token"',
        'x-ratelimit-remaining': '9',
        vary: ['accept', 'origin'],
        'x-missing': undefined,
      },
      { allowSetCookie: false },
    );
    expect(out).toEqual({
      'content-type': 'application/json',
      'content-length': '12',
      'cache-control': 'no-store',
      etag: '"abc"',
      location: '/next',
      'www-authenticate': 'Bearer error="invalid_token"',
      'x-ratelimit-remaining': '9',
      vary: ['accept', 'origin'],
    });
  });
});

describe('upstream Set-Cookie on routes that allow it', () => {
  it('never lets an upstream plant one of Gatehouse’s own cookies (session fixation)', () => {
    const out = downstreamResponseHeaders(
      {
        'set-cookie': [
          'theme=dark; Path=/',
          '__Host-gatehouse=s%3Aattacker.sig; Path=/; Secure; HttpOnly',
          'gatehouse=s%3Aattacker.sig; Path=/',
          '__Host-gatehouse-login=fixed; Path=/',
          ' GateHouse-Login=fixed; Path=/',
        ],
      },
      { allowSetCookie: true },
    );
    expect(out['set-cookie']).toEqual(['theme=dark; Path=/']);
  });

  it('drops the header entirely when only Gatehouse cookies were set', () => {
    const out = downstreamResponseHeaders(
      { 'set-cookie': '__Host-gatehouse=x; Path=/' },
      { allowSetCookie: true },
    );
    expect(out['set-cookie']).toBeUndefined();
  });
});

describe('Gatehouse-Problem header', () => {
  it('is never passed through from an upstream, so an API cannot sign the user out', () => {
    const out = downstreamResponseHeaders(
      { 'Gatehouse-Problem': 'unauthenticated', 'www-authenticate': 'Bearer' },
      { allowSetCookie: false },
    );
    expect(out['gatehouse-problem']).toBeUndefined();
    expect(out['www-authenticate']).toBe('Bearer');
  });
});

describe('Clear-Site-Data header', () => {
  it('is never passed through from an upstream: it would delete Gatehouse’s own cookies', () => {
    for (const allowSetCookie of [false, true]) {
      const out = downstreamResponseHeaders(
        { 'Clear-Site-Data': '"cookies"', 'cache-control': 'no-store' },
        { allowSetCookie },
      );
      expect(out['clear-site-data']).toBeUndefined();
      expect(out['cache-control']).toBe('no-store');
    }
  });
});
