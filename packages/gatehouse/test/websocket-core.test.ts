import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../src/config/schema.ts';
import { GatehouseError } from '../src/errors.ts';
import { isSendableCloseCode } from '../src/proxy/websocket-bridge.ts';
import {
  checkUpgrade,
  isWebSocketUpgrade,
  upstreamHandshakeHeaders,
} from '../src/proxy/websocket-handshake.ts';
import { SessionWatch } from '../src/proxy/websocket-sessions.ts';
import type { SessionRecord } from '../src/session/model.ts';

const ORIGIN = 'https://app.example.com';

function route(prefix: string, extra: Partial<RouteConfig> = {}): RouteConfig {
  return {
    prefix,
    upstream: 'http://api.internal:8080/v1',
    tokenMode: 'user',
    methods: ['GET'],
    timeoutMs: 10_000,
    idleTimeoutMs: 300_000,
    allowSetCookie: false,
    websocket: true,
    websocketIdleTimeoutMs: 300_000,
    websocketMaxMessageBytes: 1024 * 1024,
    ...extra,
  };
}

const ROUTES = [
  route('/api/chat'),
  route('/api/tls', { upstream: 'https://secure.internal' }),
  route('/api/plain', { websocket: false }),
];

const HANDSHAKE: IncomingHttpHeaders = {
  connection: 'keep-alive, Upgrade',
  upgrade: 'websocket',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
  origin: ORIGIN,
};

function refusal(url: string, headers: IncomingHttpHeaders = HANDSHAKE, method = 'GET') {
  try {
    checkUpgrade(ROUTES, ORIGIN, { method, url, headers });
  } catch (error) {
    if (error instanceof GatehouseError) return { status: error.status, code: error.code };
    throw error;
  }
  throw new Error(`accepted ${method} ${url}`);
}

describe('checkUpgrade', () => {
  it('maps an accepted upgrade to the upstream ws:// or wss:// URL with its query', () => {
    const target = checkUpgrade(ROUTES, ORIGIN, {
      method: 'GET',
      url: '/api/chat/rooms/1?since=5',
      headers: { ...HANDSHAKE, 'sec-websocket-protocol': 'chat.v2, chat.v1' },
    });
    expect(target.socketUrl.href).toBe('ws://api.internal:8080/v1/rooms/1?since=5');
    expect(target.protocols).toEqual(['chat.v2', 'chat.v1']);
    const secure = checkUpgrade(ROUTES, ORIGIN, {
      method: 'GET',
      url: '/api/tls',
      headers: HANDSHAKE,
    });
    expect(secure.socketUrl.href).toBe('wss://secure.internal/');
    expect(secure.protocols).toEqual([]);
    // A fragment after the query (`ws` would refuse to dial it) is dropped.
    const fragment = checkUpgrade(ROUTES, ORIGIN, {
      method: 'GET',
      url: '/api/chat/rooms?since=5#top',
      headers: HANDSHAKE,
    });
    expect(fragment.socketUrl.href).toBe('ws://api.internal:8080/v1/rooms?since=5');
  });

  it.each([
    ['a foreign Origin', { ...HANDSHAKE, origin: 'https://evil.example' }, 403, 'foreign_origin'],
    [
      'a sibling Origin',
      { ...HANDSHAKE, origin: 'https://app.example.com.evil' },
      403,
      'foreign_origin',
    ],
    [
      'the right host over http',
      { ...HANDSHAKE, origin: 'http://app.example.com' },
      403,
      'foreign_origin',
    ],
    ['Origin: null', { ...HANDSHAKE, origin: 'null' }, 403, 'foreign_origin'],
    ['no Origin', { ...HANDSHAKE, origin: undefined }, 403, 'foreign_origin'],
    [
      'no Sec-WebSocket-Key',
      { ...HANDSHAKE, 'sec-websocket-key': undefined },
      400,
      'bad_websocket_handshake',
    ],
    ['a short key', { ...HANDSHAKE, 'sec-websocket-key': 'AAAA' }, 400, 'bad_websocket_handshake'],
    [
      'a key with bad characters',
      { ...HANDSHAKE, 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25j%Q==' },
      400,
      'bad_websocket_handshake',
    ],
    ['version 8', { ...HANDSHAKE, 'sec-websocket-version': '8' }, 400, 'bad_websocket_handshake'],
    [
      'no Connection: Upgrade',
      { ...HANDSHAKE, connection: 'keep-alive' },
      400,
      'bad_websocket_handshake',
    ],
    [
      'duplicate subprotocols',
      { ...HANDSHAKE, 'sec-websocket-protocol': 'a,a' },
      400,
      'bad_websocket_handshake',
    ],
    [
      'an empty subprotocol',
      { ...HANDSHAKE, 'sec-websocket-protocol': 'a,,b' },
      400,
      'bad_websocket_handshake',
    ],
    [
      'a subprotocol with a space',
      { ...HANDSHAKE, 'sec-websocket-protocol': 'a b' },
      400,
      'bad_websocket_handshake',
    ],
    [
      'too many subprotocols',
      {
        ...HANDSHAKE,
        'sec-websocket-protocol': Array.from({ length: 17 }, (_, i) => `p${i}`).join(','),
      },
      400,
      'bad_websocket_handshake',
    ],
  ])('refuses %s', (_name, headers, status, code) => {
    expect(refusal('/api/chat', headers)).toEqual({ status, code });
  });

  it.each([
    ['/bff/user', 404, 'not_found'],
    ['/bff/callback/acme/dev', 404, 'not_found'],
    ['/admin/api/tenants', 404, 'not_found'],
    ['/', 404, 'not_found'],
    ['/apis/chat', 404, 'not_found'],
    ['/api/unknown', 404, 'not_found'],
    ['/api/plain/x', 404, 'websocket_not_enabled'],
    ['/api/chat/%2e%2e/admin', 400, 'invalid_path'],
    ['/api/chat/..;/admin', 400, 'invalid_path'],
    ['/api/chat//x', 400, 'invalid_path'],
    ['/api/chat/%2F', 400, 'invalid_path'],
  ])('refuses the path %s', (url, status, code) => {
    expect(refusal(url)).toEqual({ status, code });
  });

  it('refuses every method but GET, before looking at the route', () => {
    for (const method of ['POST', 'PUT', 'CONNECT', 'OPTIONS']) {
      expect(refusal('/api/chat', HANDSHAKE, method)).toEqual({
        status: 405,
        code: 'method_not_allowed',
      });
    }
  });

  it('tells WebSocket upgrades from other ones', () => {
    expect(isWebSocketUpgrade({ upgrade: 'WebSocket' })).toBe(true);
    expect(isWebSocketUpgrade({ upgrade: 'h2c' })).toBe(false);
    expect(isWebSocketUpgrade({})).toBe(false);
  });
});

describe('upstreamHandshakeHeaders', () => {
  it('drops the browser’s credentials and handshake, keeps the rest and adds ours', () => {
    const headers = upstreamHandshakeHeaders(
      {
        ...HANDSHAKE,
        cookie: 'gh_session=abc',
        authorization: 'Basic Zm9vOmJhcg==',
        'sec-websocket-extensions': 'permessage-deflate',
        'sec-websocket-protocol': 'chat.v1',
        'x-forwarded-for': '6.6.6.6',
        'x-csrf': '1',
        'user-agent': 'test',
        host: 'app.example.com',
        // A hand-made upgrade may declare a body; the upstream handshake has none.
        'content-length': '5',
      },
      {
        clientIp: '10.0.0.1',
        publicUrl: new URL(ORIGIN),
        requestId: 'r1',
        authorization: 'Bearer token',
      },
    );
    expect(headers).toEqual({
      origin: ORIGIN,
      'user-agent': 'test',
      authorization: 'Bearer token',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'app.example.com',
      'x-request-id': 'r1',
    });
  });
});

describe('isSendableCloseCode', () => {
  it('follows RFC 6455 7.4', () => {
    expect([1000, 1001, 1009, 1011, 1014, 3000, 4401, 4999].every(isSendableCloseCode)).toBe(true);
    expect([999, 1004, 1005, 1006, 1015, 2000, 5000].some(isSendableCloseCode)).toBe(false);
  });
});

describe('SessionWatch', () => {
  const record = (expired = false) => ({ expired }) as unknown as SessionRecord;

  function watchWith(store: Map<string, SessionRecord | Error>) {
    const reads: string[] = [];
    const storeErrors: number[] = [];
    const watch = new SessionWatch({
      intervalMs: 60_000,
      read: async (sid) => {
        reads.push(sid);
        const entry = store.get(sid);
        if (entry instanceof Error) throw entry;
        return entry;
      },
      hasEnded: async (r) => (r as unknown as { expired: boolean }).expired,
      onStoreError: (_error, sessions) => storeErrors.push(sessions),
    });
    return { watch, reads, storeErrors };
  }

  it('reads each session once per check, however many sockets it has', async () => {
    const store = new Map<string, SessionRecord | Error>([
      ['a', record()],
      ['b', record()],
    ]);
    const { watch, reads } = watchWith(store);
    const ended: string[] = [];
    watch.watch('a', () => ended.push('a1'));
    watch.watch('a', () => ended.push('a2'));
    watch.watch('b', () => ended.push('b1'));
    await watch.check();
    expect(reads.sort()).toEqual(['a', 'b']);
    expect(ended).toEqual([]);
    watch.close();
  });

  it('ends every socket of a session that is gone or expired, and only those', async () => {
    const store = new Map<string, SessionRecord | Error>([
      ['live', record()],
      ['old', record(true)],
    ]);
    const { watch } = watchWith(store);
    const ended: string[] = [];
    watch.watch('live', () => ended.push('live'));
    watch.watch('old', () => ended.push('old'));
    watch.watch('gone', () => ended.push('gone1'));
    watch.watch('gone', () => ended.push('gone2'));
    await watch.check();
    expect(ended.sort()).toEqual(['gone1', 'gone2', 'old']);
    expect(watch.size).toBe(1);
    // Told once: an ended session is no longer watched.
    await watch.check();
    expect(ended).toHaveLength(3);
    watch.close();
  });

  it('ends nothing when the store fails, and checks those sessions again next time', async () => {
    const store = new Map<string, SessionRecord | Error>([
      ['a', new Error('ECONNREFUSED')],
      ['b', record()],
    ]);
    const { watch, reads, storeErrors } = watchWith(store);
    const ended: string[] = [];
    watch.watch('a', () => ended.push('a'));
    watch.watch('b', () => ended.push('b'));
    await watch.check();
    await watch.check();
    expect(ended).toEqual([]);
    expect(storeErrors).toEqual([1, 1]);
    expect(reads.filter((sid) => sid === 'a')).toHaveLength(2);
    store.delete('a');
    await watch.check();
    expect(ended).toEqual(['a']);
    watch.close();
  });

  it('stops watching a socket that closed by itself', async () => {
    const { watch, reads } = watchWith(new Map());
    const ended: string[] = [];
    const stop = watch.watch('a', () => ended.push('a'));
    stop();
    await watch.check();
    expect(reads).toEqual([]);
    expect(ended).toEqual([]);
    expect(watch.size).toBe(0);
  });
});
