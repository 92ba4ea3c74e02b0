/// <reference types="node" />
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import { setUpFakeGatehouse, delay, waitForState } from './helpers.ts';

const { fake, clients } = await setUpFakeGatehouse();
let channelName: string;
beforeEach(() => {
  channelName = `tabs-${randomUUID()}`;
});

/** Two tabs of the same app: same channel, same (fake) cookie. */
async function twoSignedInTabs() {
  fake.signIn();
  const a = clients.make({ channelName });
  const b = clients.make({ channelName });
  await Promise.all([a.client.refresh(), b.client.refresh()]);
  // Each tab's sign-in made the other re-check; let those finish first.
  await fake.idle();
  return { a, b };
}

const userRequests = () => fake.requests.filter((r) => r.path.startsWith('/bff/user')).length;

describe('cross-tab sync', () => {
  it('a logout in one tab signs the other out with reason "logout"', async () => {
    const { a, b } = await twoSignedInTabs();
    await a.client.logout();
    await expect(waitForState(b.client, (s) => s.status === 'signed-out')).resolves.toEqual({
      status: 'signed-out',
      reason: 'logout',
    });
    expect(b.navigations).toEqual([]);
  });

  it('a 401 in one tab tells the other why the session ended', async () => {
    const { a, b } = await twoSignedInTabs();
    fake.revoke();
    await a.client.apiFetch('/api/demo/me');
    await expect(waitForState(b.client, (s) => s.status === 'signed-out')).resolves.toEqual({
      status: 'signed-out',
      reason: 'unauthenticated',
    });
  });

  it('a sign-in in one tab makes the other re-check (without echoing back)', async () => {
    const a = clients.make({ channelName });
    const b = clients.make({ channelName });
    await Promise.all([a.client.refresh(), b.client.refresh()]);
    await fake.idle();
    expect(b.client.state).toEqual({ status: 'signed-out' });
    fake.signIn();
    const before = userRequests();

    await a.client.refresh();
    const state = await waitForState(b.client, (s) => s.status === 'signed-in');
    expect(state.status).toBe('signed-in');
    expect(fake.requests.at(-1)?.path).toBe('/bff/user?slide=false');
    await fake.idle();
    expect(userRequests()).toBe(before + 2);
  });

  it('a logout relabels a 401 that beat its message: logged out, not "session ended"', async () => {
    const { a, b } = await twoSignedInTabs();
    fake.revoke();
    await b.client.apiFetch('/api/demo/me');
    await waitForState(a.client, (s) => s.status === 'signed-out');
    expect(b.client.state).toEqual({ status: 'signed-out', reason: 'unauthenticated' });

    await a.client.logout();
    await expect(
      waitForState(b.client, (s) => s.status === 'signed-out' && s.reason === 'logout'),
    ).resolves.toEqual({ status: 'signed-out', reason: 'logout' });
  });

  it('tabs on another channel name are not affected', async () => {
    const { a } = await twoSignedInTabs();
    const other = clients.make();
    await other.client.refresh();
    await a.client.logout();
    await delay(50);
    expect(other.client.state.status).toBe('signed-in');
  });

  it('ignores malformed channel messages and unknown reasons', async () => {
    const { b } = await twoSignedInTabs();
    const intruder = new BroadcastChannel(channelName);
    try {
      for (const junk of ['signed-out', { type: 'nuke' }, null, 42, { kind: 'signed-out' }]) {
        intruder.postMessage(junk);
      }
      await delay(50);
      expect(b.client.state.status).toBe('signed-in');

      intruder.postMessage({ type: 'signed-out', reason: '<img src=x onerror=alert(1)>' });
      await expect(waitForState(b.client, (s) => s.status === 'signed-out')).resolves.toEqual({
        status: 'signed-out',
      });
    } finally {
      intruder.close();
    }
  });

  it('a disposed client stops listening', async () => {
    const { a, b } = await twoSignedInTabs();
    b.client.dispose();
    await a.client.logout();
    await delay(50);
    expect(b.client.state.status).toBe('signed-in');
  });
});

describe('outside a browser', () => {
  it('a client made at import time (server rendering, a script) lets Node exit', async () => {
    // As the README's `src/gatehouse.ts` does: the client is made when the module loads.
    const source = new URL('../src/index.ts', import.meta.url).href;
    const script = [
      `import { createGatehouseClient } from ${JSON.stringify(source)};`,
      `createGatehouseClient({ defaultTenant: 'acme' });`,
    ].join('\n');
    const outcome = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: 8_000 },
    ).then(
      () => 'exited',
      (error: { killed?: boolean }) => (error.killed ? 'still running after 8 s' : error),
    );
    expect(outcome).toBe('exited');
  });
});
