/// <reference types="node" />
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach } from 'vitest';
import { createGatehouseClient } from '../src/index.ts';
import type { GatehouseClient, GatehouseClientOptions, SessionState } from '../src/index.ts';
import { startFakeGatehouse, type FakeGatehouse } from './fake-gatehouse.ts';

export interface TestClient {
  client: GatehouseClient;
  navigations: string[];
}

/**
 * Builds clients against the fake BFF and remembers them for `disposeAll`. Each call gets a fresh
 * channel name unless one is given, so tests cannot hear each other's broadcasts.
 */
function clientFactory(fake: FakeGatehouse) {
  const made: GatehouseClient[] = [];
  return {
    make(options: GatehouseClientOptions = {}): TestClient {
      const navigations: string[] = [];
      const client = createGatehouseClient({
        baseUrl: fake.url,
        fetch: (input, init) => fetch(input, init),
        navigate: (url) => navigations.push(url),
        channelName: `test-${randomUUID()}`,
        ...options,
      });
      made.push(client);
      return { client, navigations };
    },
    disposeAll() {
      for (const client of made.splice(0)) client.dispose();
    },
  };
}

/**
 * One fake BFF for the calling test file, reset before each test (stragglers of the previous
 * test — aborted by dispose, or not — must not count), and its clients disposed after each.
 */
export async function setUpFakeGatehouse() {
  const fake = await startFakeGatehouse();
  const clients = clientFactory(fake);
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());
  afterEach(() => clients.disposeAll());
  return { fake, clients };
}

/** Resolves with the first state (current or future) that matches, or fails after `ms`. */
export function waitForState(
  client: GatehouseClient,
  matches: (state: SessionState) => boolean,
  ms = 2_000,
): Promise<SessionState> {
  if (matches(client.state)) return Promise.resolve(client.state);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`state never matched; last was ${JSON.stringify(client.state)}`));
    }, ms);
    const unsubscribe = client.subscribe((state) => {
      if (!matches(state)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(state);
    });
  });
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A tab's visibility for `createGatehouseClient({ visibility })`: `set` fires the event. */
export class FakeVisibility extends EventTarget {
  visibilityState: 'visible' | 'hidden' = 'visible';
  set(next: 'visible' | 'hidden'): void {
    this.visibilityState = next;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}
