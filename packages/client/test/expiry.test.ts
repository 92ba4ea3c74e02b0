import { describe, expect, it, vi } from 'vitest';
import { createExpiryWatch } from '../src/expiry.ts';
import { FakeVisibility, setUpFakeGatehouse, delay, waitForState } from './helpers.ts';

const { fake, clients } = await setUpFakeGatehouse();

function recordWarnings(listen: (listener: (secondsLeft: number) => void) => () => void) {
  const warnings: number[] = [];
  let resolveFirst: () => void = () => {};
  const first = new Promise<void>((resolve) => (resolveFirst = resolve));
  const unsubscribe = listen((secondsLeft) => {
    warnings.push(secondsLeft);
    resolveFirst();
  });
  return { warnings, first, unsubscribe };
}

describe('expiry warning', () => {
  it('fires once, expiryWarningSeconds before session.expiresAt', async () => {
    fake.signIn({ ttlMs: 1_500 });
    const { client } = clients.make({ expiryWarningSeconds: 1 });
    const { warnings, first } = recordWarnings(client.onExpiryWarning);
    const started = Date.now();
    await client.refresh();

    await first;
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(warnings).toEqual([1]);
    // A re-check that returns the same expiry time must not warn again.
    await client.refresh({ slide: false });
    await delay(100);
    expect(warnings).toEqual([1]);
  });

  it('fires at once when the session is already inside the warning window', async () => {
    fake.signIn({ ttlMs: 30_000 });
    const { client } = clients.make();
    const { warnings, first } = recordWarnings(client.onExpiryWarning);
    await client.refresh();
    await first;
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBeGreaterThanOrEqual(29);
    expect(warnings[0]).toBeLessThanOrEqual(30);
  });

  it('warns again for the new expiry once "stay signed in" slid the session', async () => {
    fake.signIn({ ttlMs: 30_000 });
    const { client } = clients.make();
    const { warnings, first } = recordWarnings(client.onExpiryWarning);
    await client.refresh();
    await first;
    await delay(5);
    await client.refresh();
    await delay(50);
    expect(warnings).toHaveLength(2);
  });

  it('tells a listener added after the warning, at once and once', async () => {
    fake.signIn({ ttlMs: 30_000 });
    const { client } = clients.make();
    const early = recordWarnings(client.onExpiryWarning);
    await client.refresh();
    await early.first;
    // Say a component of a screen opened later: the warning still stands for it.
    const late = recordWarnings(client.onExpiryWarning);
    await late.first;
    expect(late.warnings).toHaveLength(1);
    expect(late.warnings[0]).toBeGreaterThanOrEqual(29);
    expect(late.warnings[0]).toBeLessThanOrEqual(30);
    // Not again for the same expiry, and the early listener heard it once.
    await client.refresh({ slide: false });
    await delay(50);
    expect([early.warnings.length, late.warnings.length]).toEqual([1, 1]);
  });

  it('does not call a listener that unsubscribed', async () => {
    fake.signIn({ ttlMs: 30_000 });
    const { client } = clients.make();
    const gone = recordWarnings(client.onExpiryWarning);
    const kept = recordWarnings(client.onExpiryWarning);
    gone.unsubscribe();
    await client.refresh();
    await kept.first;
    expect(gone.warnings).toEqual([]);
  });

  it('re-checks without sliding once the session expired and signs out as "expired"', async () => {
    fake.signIn({ ttlMs: 200 });
    const { client } = clients.make({ expiryWarningSeconds: 0 });
    await client.refresh();

    await expect(waitForState(client, (s) => s.status === 'signed-out', 3_000)).resolves.toEqual({
      status: 'signed-out',
      reason: 'expired',
    });
    expect(fake.requests.at(-1)?.path).toBe('/bff/user?slide=false');
  });
});

describe('expiry re-checks when the server disagrees', () => {
  it('asks again, backing off, while the server still reports the same expiry', async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      const watch = createExpiryWatch({ warningSeconds: 0, onExpired: () => (calls += 1) });
      // The browser clock is ahead: for it, the session ended a while ago.
      watch.watch(new Date(Date.now() - 60_000).toISOString());
      await vi.advanceTimersByTimeAsync(10);
      expect(calls).toBe(1);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(calls).toBe(2);
      await vi.advanceTimersByTimeAsync(5_000 + 15_000);
      expect(calls).toBe(4);
      // A new expiry from the server re-arms from scratch; stop() ends it all.
      watch.watch(new Date(Date.now() + 3_600_000).toISOString());
      await vi.advanceTimersByTimeAsync(120_000);
      expect(calls).toBe(4);
      watch.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('re-check when the tab becomes visible', () => {
  it('notices a session revoked elsewhere, without extending anything', async () => {
    fake.signIn();
    const visibility = new FakeVisibility();
    const { client } = clients.make({ visibility });
    await client.refresh();
    fake.revoke();

    visibility.set('hidden');
    await delay(50);
    expect(client.state.status).toBe('signed-in');

    visibility.set('visible');
    await expect(waitForState(client, (s) => s.status === 'signed-out')).resolves.toEqual({
      status: 'signed-out',
      reason: 'unauthenticated',
    });
    expect(fake.requests.map((r) => r.path)).toEqual(['/bff/user', '/bff/user?slide=false']);
  });

  it('picks up a sign-in that happened while the tab was hidden', async () => {
    const visibility = new FakeVisibility();
    const { client } = clients.make({ visibility });
    await client.refresh();
    fake.signIn();

    visibility.set('visible');
    await expect(waitForState(client, (s) => s.status === 'signed-in')).resolves.toMatchObject({
      user: { tenant: 'acme' },
    });
  });

  it('stops watching after dispose', async () => {
    const visibility = new FakeVisibility();
    const { client } = clients.make({ visibility });
    client.dispose();
    visibility.set('visible');
    await delay(50);
    expect(fake.requests).toEqual([]);
  });
});
