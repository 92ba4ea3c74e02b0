import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as playwrightRequest, type APIRequestContext } from '@playwright/test';
import { startStack, type Stack } from '@gatehouse/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callControl } from '../src/controls.ts';
import { JarClient } from '../src/http.ts';
import GatehouseSignInReporter, { summarize } from '../src/reporter.ts';
import { knownRealms, signInOverHttp } from '../src/sign-in.ts';

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

  it('signs in with a cookie jar of its own: cookies for the browser, nothing shared', async () => {
    const jar = new JarClient();
    const user = await signInOverHttp(
      jar,
      stack.origin,
      { tenant: 'acme', sub: 'jar' },
      { workerIndex: 1 },
    );
    const me = await jar.get(`${stack.origin}/bff/user`);
    expect(me.status).toBe(200);
    expect(((await me.json()) as { claims: { sub: string } }).claims.sub).toBe(user.sub);
    // Another jar (the next test's sign-in) sends none of them.
    expect((await new JarClient().get(`${stack.origin}/bff/user`)).status).toBe(401);

    const cookies = await jar.cookies();
    const session = cookies.find((c) => c.name === 'gatehouse');
    expect(session).toMatchObject({
      domain: 'localhost',
      path: '/',
      httpOnly: true,
      secure: false,
    });
    expect(['Strict', 'Lax']).toContain(session?.sameSite);
    // The IdP's cookies go too (as a browser would keep them), each with its own path.
    expect(cookies.some((c) => c.name.startsWith('_session'))).toBe(true);

    // A second sign-in of the same user from a fresh jar is a second session.
    const again = new JarClient();
    await signInOverHttp(again, stack.origin, user, { workerIndex: 1 });
    const other = (await again.cookies()).find((c) => c.name === 'gatehouse');
    expect(other?.value).toBeTruthy();
    expect(other?.value).not.toBe(session?.value);
  });

  it('makes the user in the right realm when the tenant’s realm moved since the last sign-in', async () => {
    const first = await signInOverHttp(
      new JarClient(),
      stack.origin,
      { tenant: 'acme' },
      {
        workerIndex: 2,
      },
    );
    expect(first.realm).toBe('');
    const key = JSON.stringify([new URL(stack.origin).origin, 'acme', null]);
    expect(knownRealms.get(key)).toEqual({ idpOrigin: first.idpOrigin, realm: '' });
    // As if acme's provider had been at the globex realm: the user made early is made there.
    knownRealms.set(key, { idpOrigin: first.idpOrigin, realm: '/globex' });
    const steps: string[] = [];
    const jar = new JarClient();
    const moved = await signInOverHttp(
      jar,
      stack.origin,
      { tenant: 'acme', sub: 'moved' },
      {
        workerIndex: 2,
        onStep: (step) => steps.push(step),
      },
    );
    expect(moved.realm).toBe('');
    expect(steps.filter((step) => step === 'idp user (parallel)')).toHaveLength(2);
    const me = await jar.get(`${stack.origin}/bff/user`);
    expect(((await me.json()) as { claims: { sub: string } }).claims.sub).toBe(moved.sub);
    expect(knownRealms.get(key)?.realm).toBe('');
  });

  it('records each step of a sign-in when asked', async () => {
    const steps: string[] = [];
    await signInOverHttp(
      new JarClient(),
      stack.origin,
      { tenant: 'acme' },
      { workerIndex: 0, onStep: (step, ms) => steps.push(`${step}:${ms >= 0}`) },
    );
    expect(steps.sort()).toEqual(
      [
        'gatehouse /bff/login',
        'idp user (parallel)',
        'idp /auth',
        // The login's answer is the IdP's resume: the redirect to the callback, no hop between.
        'idp login + resume',
        'gatehouse callback',
      ]
        .map((step) => `${step}:true`)
        .sort(),
    );
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
      'Gatehouse sign-ins: 3 in 2 tests on 2 worker(s): total 201 ms, mean 66.8 ms, max 100.5 ms (first in each worker: 101, 80 ms)\n',
    );
    expect(summarize([], 0)).toMatchObject({ signIns: 0, meanMs: 0, firstMs: [] });
  });

  it('prints the opt-in step breakdown: sums, what no step covers, each worker’s first', () => {
    const reporter = new GatehouseSignInReporter();
    const steps = (json: string) => ({ type: 'gatehouse:sign-in-steps', description: json });
    const total = (ms: string) => ({ type: 'gatehouse:sign-in', description: ms });
    reporter.onTestEnd(
      { id: 'a', annotations: [] } as never,
      {
        workerIndex: 0,
        annotations: [total('30'), steps('{"login":10,"callback":15}')],
      } as never,
    );
    reporter.onTestEnd(
      { id: 'b', annotations: [] } as never,
      {
        workerIndex: 0,
        annotations: [total('20'), steps('{"login":5,"callback":10}'), steps('not json')],
      } as never,
    );
    const writes: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string) => writes.push(chunk) > 0;
    try {
      reporter.onEnd({} as never);
    } finally {
      process.stdout.write = write;
    }
    const lines = writes.join('').split('\n');
    expect(lines[0]).toContain('2 in 2 tests on 1 worker(s): total 50 ms');
    expect(lines[1]).toMatch(/^Gatehouse sign-in steps \(GATEHOUSE_SIGN_IN_STEPS=1\)/);
    expect(lines[2]).toMatch(/^ {2}login +total +15 ms +mean +7\.5 ms +max +10\.0 ms$/);
    expect(lines[3]).toMatch(/^ {2}callback +total +25 ms +mean +12\.5 ms +max +15\.0 ms$/);
    expect(lines[4]).toMatch(/^ {2}\(outside the steps\) +total +10 ms/);
    expect(lines[5]).toBe('  first sign-in of worker 0 (ms): login 10, callback 15');
  });
});
