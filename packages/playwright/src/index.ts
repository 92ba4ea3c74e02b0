/**
 * Playwright fixtures for apps behind Gatehouse: tests start signed in as a fresh user of the
 * shape they ask for (`test.use({ gatehouseUser: { tenant: 'acme' } })`), through the real
 * authorization code + PKCE flow of the dev IdP, without rendering its pages; and the
 * `gatehouse` fixture expires, revokes, logs out or fails the test's own session.
 */
import { performance } from 'node:perf_hooks';
import { test as base, expect } from '@playwright/test';
import type { BrowserContext, Page, TestInfo } from '@playwright/test';
import { callControl, devIdpBackchannelLogout, type ControlName } from './controls.ts';
import { JarClient } from './http.ts';
import {
  GatehouseFixtureError,
  signInOverHttp,
  type GatehouseTestUser,
  type GatehouseUserSpec,
} from './sign-in.ts';

export { expect, GatehouseFixtureError };
export type { GatehouseTestUser, GatehouseUserSpec };

/**
 * The annotation each sign-in adds to its test (`description`: milliseconds, the whole sign-in
 * as the test waits for it: for `gatehouseUser`, from the fixture's start to the cookies being
 * in the test's browser context).
 */
export const SIGN_IN_ANNOTATION = 'gatehouse:sign-in';

/**
 * With `GATEHOUSE_SIGN_IN_STEPS=1`, each sign-in also adds this annotation: the milliseconds of
 * each step (`description`: JSON `{ step: ms }`), which the reporter sums up.
 */
export const SIGN_IN_STEPS_ANNOTATION = 'gatehouse:sign-in-steps';

type Cookies = Awaited<ReturnType<JarClient['cookies']>>;

/** A page or a browser context: whose cookies a sign-in or a control uses. */
export type GatehouseTarget = Page | BrowserContext;

/** The `gatehouse` fixture: the stack under test and the test's own session. */
export interface GatehouseFixture {
  /** Gatehouse's origin: Playwright's `baseURL`, else `GATEHOUSE_URL`. */
  readonly baseURL: string;
  /** The user signed in for this test (`gatehouseUser`, or the last `signIn`). */
  readonly user: GatehouseTestUser | undefined;
  /**
   * Signs `user` in for `target` through the real login flow (code + PKCE via the dev IdP, the
   * cookie set by Gatehouse) over HTTP, sharing the context's cookies: a spec makes a new unique
   * user at the dev IdP first; a user from an earlier sign-in signs in again (another session).
   */
  signIn(
    target: GatehouseTarget,
    user: GatehouseUserSpec | GatehouseTestUser,
    options?: { returnTo?: string },
  ): Promise<GatehouseTestUser>;
  /** The access token counts as expired: the next API call refreshes it at the IdP. */
  expireAccessToken(target?: GatehouseTarget): Promise<void>;
  /** The session reaches its absolute timeout: the next request answers 401 `session_expired`. */
  expireSession(target?: GatehouseTarget): Promise<void>;
  /** Gatehouse revokes the refresh token at the IdP: the next refresh gets `invalid_grant`. */
  revokeAtIdp(target?: GatehouseTarget): Promise<void>;
  /** The dev IdP sends Gatehouse a real back-channel logout token for the user. */
  backchannelLogout(target?: GatehouseTarget): Promise<void>;
  /** For `ms`, refreshes of this session answer 502 `idp_unavailable` (as if the IdP were down). */
  failIdp(ms: number, target?: GatehouseTarget): Promise<void>;
  /** For `ms`, every request of this session answers 503 `store_unavailable`. */
  failStore(ms: number, target?: GatehouseTarget): Promise<void>;
}

export interface GatehouseOptions {
  /**
   * Every test starts signed in as a new user of this shape (its `sub` unique to the test),
   * in the test's `context` (and so `page`).
   */
  gatehouseUser: GatehouseUserSpec | undefined;
  /**
   * `'test'` (default): a new user and session for every test. `'worker'`: tests of one worker
   * asking for the same `gatehouseUser` share one user and its session (its cookies are
   * reused), as long as that session is alive and no test used a lifecycle control on it;
   * workers never share.
   */
  gatehouseSessionReuse: 'test' | 'worker';
}

interface AutoSession {
  user: GatehouseTestUser;
  /** What the sign-in's own cookie jar holds: it goes into each test's browser context. */
  cookies: Cookies;
  jar: JarClient;
  /** A lifecycle control acted on it: never reuse it. */
  spent: boolean;
}

/** A sign-in still being timed: its cookies go into the browser context last. */
interface PendingTiming {
  /** The sign-in itself, up to the cookies being ready. */
  signInMs: number;
  annotation: { type: string; description?: string };
  steps: SignInSteps | undefined;
}

/** The opt-in breakdown: milliseconds per step of one sign-in. */
class SignInSteps {
  readonly #ms: Record<string, number> = {};
  readonly #annotation = { type: SIGN_IN_STEPS_ANNOTATION, description: '{}' };

  constructor(testInfo: TestInfo) {
    testInfo.annotations.push(this.#annotation);
  }

  readonly add = (step: string, ms: number): void => {
    this.#ms[step] = (this.#ms[step] ?? 0) + ms;
    this.#annotation.description = JSON.stringify(this.#ms);
  };

  async time<T>(step: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } finally {
      this.add(step, performance.now() - started);
    }
  }
}

function stepsWanted(): boolean {
  return process.env.GATEHOUSE_SIGN_IN_STEPS === '1';
}

interface TestFixtures {
  gatehouse: GatehouseFixture;
  _gatehouseSession: (AutoSession & { timing: PendingTiming | undefined }) | undefined;
}

interface WorkerFixtures {
  _gatehouseReuse: Map<string, AutoSession>;
}

function contextOf(target: GatehouseTarget): BrowserContext {
  return 'context' in target && typeof target.context === 'function'
    ? target.context()
    : (target as BrowserContext);
}

function gatehouseBase(baseURL: string | undefined): string {
  const url = baseURL ?? process.env.GATEHOUSE_URL;
  if (!url) {
    throw new GatehouseFixtureError(
      'no Gatehouse URL: set Playwright’s use.baseURL or the GATEHOUSE_URL environment variable',
    );
  }
  return url;
}

/** Times `run` as one sign-in of the test (and, opted in, its steps). */
async function timed<T>(
  testInfo: TestInfo,
  run: (steps: SignInSteps | undefined) => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const steps = stepsWanted() ? new SignInSteps(testInfo) : undefined;
  const result = await run(steps);
  const ms = performance.now() - started;
  testInfo.annotations.push({ type: SIGN_IN_ANNOTATION, description: ms.toFixed(1) });
  return result;
}

export const test = base.extend<TestFixtures & GatehouseOptions, WorkerFixtures>({
  gatehouseUser: [undefined, { option: true }],
  gatehouseSessionReuse: ['test', { option: true }],

  // Chromium starts its cookie store on the first use of any context's cookies (~200 ms on a
  // busy 2-core machine: browser start-up, part of which a test's first navigation pays when
  // nothing used cookies before). Finished here, as part of the launch, so that a worker's
  // first sign-in is not charged with it when it hands its cookies over.
  browser: [
    async ({ browser }, use) => {
      const context = await browser.newContext();
      try {
        await context.cookies();
      } finally {
        await context.close();
      }
      await use(browser);
    },
    { scope: 'worker' },
  ],

  _gatehouseReuse: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures must destructure their first argument
    async ({}, use) => {
      await use(new Map());
    },
    { scope: 'worker' },
  ],

  _gatehouseSession: async (
    { gatehouseUser, gatehouseSessionReuse, baseURL, _gatehouseReuse },
    use,
    testInfo,
  ) => {
    if (!gatehouseUser) {
      await use(undefined);
      return;
    }
    // Timed: from here to the cookies being ready, plus their injection into the browser context
    // (`context`, below). The browser's launch and the context's creation come before (see
    // `context`): they are not the sign-in's.
    const started = performance.now();
    const gatehouseURL = gatehouseBase(baseURL);
    const key = JSON.stringify([gatehouseURL, gatehouseUser]);
    const cached = gatehouseSessionReuse === 'worker' ? _gatehouseReuse.get(key) : undefined;
    let session: AutoSession;
    let timing: PendingTiming | undefined;
    if (cached && !cached.spent && (await stillSignedIn(gatehouseURL, cached))) {
      session = cached;
    } else {
      const steps = stepsWanted() ? new SignInSteps(testInfo) : undefined;
      // A jar of its own: nothing of an earlier sign-in (IdP session, cookies) takes part.
      const jar = new JarClient();
      const user = await signInOverHttp(jar, gatehouseURL, gatehouseUser, {
        workerIndex: testInfo.workerIndex,
        ...(steps ? { onStep: steps.add } : {}),
      });
      const cookies = steps
        ? await steps.time('cookies out of the jar', () => jar.cookies())
        : await jar.cookies();
      session = { user, cookies, jar, spent: false };
      const annotation = {
        type: SIGN_IN_ANNOTATION,
        description: (performance.now() - started).toFixed(1),
      };
      // Pushed now (a test can count its sign-ins); `context` adds the cookies' injection.
      testInfo.annotations.push(annotation);
      timing = { signInMs: performance.now() - started, annotation, steps };
    }
    if (gatehouseSessionReuse === 'worker') _gatehouseReuse.set(key, session);
    const wrapper = { ...session, timing };
    // The controls mark the session spent through the wrapper: pass it back to the cache.
    await use(wrapper);
    if (wrapper.spent) {
      session.spent = true;
      _gatehouseReuse.delete(key);
    }
  },

  // The browser and its context first (Playwright sets fixtures up in this order), then the
  // sign-in: its time runs from the first request to the cookies being in this context.
  context: async ({ context, _gatehouseSession }, use) => {
    if (_gatehouseSession) {
      const timing = _gatehouseSession.timing;
      const started = performance.now();
      await context.addCookies(_gatehouseSession.cookies);
      const ms = performance.now() - started;
      if (timing) {
        timing.steps?.add('context.addCookies', ms);
        timing.annotation.description = (timing.signInMs + ms).toFixed(1);
      }
    }
    await use(context);
  },

  gatehouse: async ({ baseURL, context, _gatehouseSession }, use, testInfo) => {
    const gatehouseURL = gatehouseBase(baseURL);
    const users = new WeakMap<BrowserContext, GatehouseTestUser>();
    let current: { context: BrowserContext; user: GatehouseTestUser } | undefined;
    if (_gatehouseSession) {
      users.set(context, _gatehouseSession.user);
      current = { context, user: _gatehouseSession.user };
    }
    const contextFor = (target?: GatehouseTarget) =>
      target ? contextOf(target) : (current?.context ?? context);
    const control = async (name: ControlName, target?: GatehouseTarget, body?: { ms: number }) => {
      const chosen = contextFor(target);
      if (_gatehouseSession && chosen === context) _gatehouseSession.spent = true;
      await callControl(chosen.request, gatehouseURL, name, body);
    };
    const checkMs = (ms: number) => {
      if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) {
        throw new GatehouseFixtureError(`ms must be an integer from 1 to 600000, not ${ms}`);
      }
      return { ms };
    };

    const fixture: GatehouseFixture = {
      baseURL: gatehouseURL,
      get user() {
        return current?.user;
      },
      async signIn(target, user, options = {}) {
        const chosen = contextOf(target);
        const signedIn = await timed(testInfo, (steps) =>
          signInOverHttp(chosen.request, gatehouseURL, user, {
            workerIndex: testInfo.workerIndex,
            ...(options.returnTo !== undefined ? { returnTo: options.returnTo } : {}),
            ...(steps ? { onStep: steps.add } : {}),
          }),
        );
        users.set(chosen, signedIn);
        current = { context: chosen, user: signedIn };
        return signedIn;
      },
      async expireAccessToken(target) {
        await control('expire-access-token', target);
      },
      async expireSession(target) {
        await control('expire-session', target);
      },
      async revokeAtIdp(target) {
        await control('revoke-at-idp', target);
      },
      async failIdp(ms, target) {
        await control('fail-idp', target, checkMs(ms));
      },
      async failStore(ms, target) {
        await control('fail-store', target, checkMs(ms));
      },
      async backchannelLogout(target) {
        const chosen = contextFor(target);
        const user = users.get(chosen);
        if (!user) {
          throw new GatehouseFixtureError(
            'backchannelLogout: no user was signed in by the fixtures in this browser context',
          );
        }
        if (_gatehouseSession && chosen === context) _gatehouseSession.spent = true;
        await devIdpBackchannelLogout(chosen.request, user);
      },
    };
    await use(fixture);
  },
});

/** Whether a reused session is still alive at Gatehouse (one cheap read with its cookies). */
async function stillSignedIn(gatehouseURL: string, session: AutoSession): Promise<boolean> {
  const response = await session.jar.get(new URL('/bff/user?slide=false', gatehouseURL).href);
  return response.status === 200;
}
