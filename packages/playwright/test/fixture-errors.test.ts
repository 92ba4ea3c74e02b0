import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as playwrightRequest, type APIRequestContext } from '@playwright/test';
import { startStack, type Stack } from '@gatehouse/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callControl } from '../src/controls.ts';
import GatehouseSignInReporter, { summarize } from '../src/reporter.ts';
import { signInOverHttp } from '../src/sign-in.ts';

/**
 * What a user of the fixtures is told when the stack is not set up for them: test controls off,
 * no controls at all (production), no dev IdP control API. Real stacks, Playwright's own
 * request contexts (no browser).
 */
describe('the fixtures against a stack without test controls', () => {
  let stack: Stack;
  let request: APIRequestContext;

  beforeAll(async () => {
    stack = await startStack({ devIdp: { controlApi: true } });
  });
  afterAll(async () => {
    await stack?.close();
  });
  afterEach(async () => {
    await request?.dispose();
  });

  it('signs in for real, then says how to turn the test controls on', async () => {
    request = await playwrightRequest.newContext();
    const user = await signInOverHttp(
      request,
      stack.origin,
      { tenant: 'globex', sub: 'errors', roles: ['gatehouse-admin'] },
      { workerIndex: 3 },
    );
    expect(user.sub).toMatch(/^errors-w3-/);
    expect(user.realm).toBe('/globex');
    const me = await request.get(`${stack.origin}/bff/user`);
    expect(me.status()).toBe(200);
    expect(((await me.json()) as { claims: { sub: string } }).claims.sub).toBe(user.sub);

    await expect(callControl(request, stack.origin, 'expire-session')).rejects.toThrow(
      /test controls are off .*GATEHOUSE_TEST_CONTROLS=1/,
    );
    // Nothing happened to the session.
    expect((await request.get(`${stack.origin}/bff/user`)).status()).toBe(200);
  });

  it('says the dev IdP has no control API when it has none', async () => {
    const closed = await startStack();
    request = await playwrightRequest.newContext();
    try {
      await expect(
        signInOverHttp(request, closed.origin, { tenant: 'acme' }, { workerIndex: 0 }),
      ).rejects.toThrow(/has no control API: start it with DEV_IDP_CONTROL_API=1/);
    } finally {
      await closed.close();
    }
  });

  it('says an unknown tenant or a server without controls plainly', async () => {
    request = await playwrightRequest.newContext();
    await expect(
      signInOverHttp(request, stack.origin, { tenant: 'nowhere' }, { workerIndex: 0 }),
    ).rejects.toThrow(/did not start a sign-in: HTTP 404 .*unknown_tenant/);

    // A production Gatehouse has no /bff/test-controls at all: a plain 404.
    const server: Server = createServer((_req, res) => {
      res
        .writeHead(404, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ code: 'not_found' }));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await expect(callControl(request, origin, 'fail-store', { ms: 5 })).rejects.toThrow(
        /has no test controls: they exist only in development mode/,
      );
    } finally {
      server.close();
    }
  });
});

describe('the sign-in reporter', () => {
  it('sums the sign-in annotations of every test, per worker', () => {
    const reporter = new GatehouseSignInReporter();
    const annotation = (ms: string) => ({ type: 'gatehouse:sign-in', description: ms });
    const results: Array<[string, number, string[]]> = [
      ['a', 0, ['100.5']],
      ['b', 1, ['80', '20']],
      ['c', 1, []],
    ];
    for (const [id, workerIndex, samples] of results) {
      reporter.onTestEnd(
        { id, annotations: [{ type: 'other', description: '5' }] } as never,
        { workerIndex, annotations: samples.map(annotation) } as never,
      );
    }
    const writes: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string) => writes.push(chunk) > 0;
    try {
      reporter.onEnd({} as never);
    } finally {
      process.stdout.write = write;
    }
    expect(writes.join('')).toBe(
      'Gatehouse sign-ins: 3 in 2 tests on 2 worker(s): total 201 ms, mean 66.8 ms, max 100.5 ms\n',
    );
    expect(summarize([], 0)).toMatchObject({ signIns: 0, meanMs: 0 });
  });
});
