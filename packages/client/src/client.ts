import { createAdminApi } from './admin.ts';
import { createAdminConsoleApi } from './admin-console.ts';
import { openTabChannel } from './cross-tab.ts';
import type { TabMessage } from './cross-tab.ts';
import { callSafely, createExpiryWatch } from './expiry.ts';
import { networkProblem, readProblem, readRetryAfter } from './problem.ts';
import { parsePublicTenant, parseSessions, parseUser, readJson } from './parse.ts';
import type {
  GatehouseClient,
  GatehouseClientOptions,
  GatehouseSessionInfo,
  LoginOptions,
  LogoutOptions,
  SessionState,
  SignedOutReason,
  VisibilitySource,
} from './types.ts';

const DEFAULT_CHANNEL_NAME = 'gatehouse';
const DEFAULT_EXPIRY_WARNING_SECONDS = 120;
/** The 401 codes Gatehouse itself uses for "no session": trusted without asking again. */
const SESSION_GONE_CODES: ReadonlySet<string> = new Set(['unauthenticated', 'session_expired']);
/**
 * Gatehouse marks its own problem answers with this header, and its proxy never passes an
 * upstream's copy through: a downstream API's 401 body cannot pass for Gatehouse's verdict.
 */
const GATEHOUSE_PROBLEM_HEADER = 'Gatehouse-Problem';
const CSRF_HEADER = 'X-CSRF';
/**
 * The longest the client's own session checks wait for a `Retry-After`: a server (or a proxy in
 * front of it) that asks for an hour must not leave a tab unchecked for that long.
 */
const MAX_CHECK_HOLD_MS = 5 * 60_000;

/**
 * Builds the browser SDK for a Gatehouse BFF. It holds no token and stores nothing: the session
 * is the HttpOnly cookie, so the client only mirrors what `GET /bff/user` says.
 * Call `refresh()` once at start-up to leave the `loading` state.
 *
 * @example
 * const gatehouse = createGatehouseClient();
 * gatehouse.subscribe((state) => render(state));
 * await gatehouse.refresh();
 * const res = await gatehouse.apiFetch('/api/demo/me');
 */
export function createGatehouseClient(
  options: GatehouseClientOptions & { defaultTenant: string },
): GatehouseClient<true>;
export function createGatehouseClient(options?: GatehouseClientOptions): GatehouseClient<false>;
export function createGatehouseClient(options: GatehouseClientOptions = {}): GatehouseClient {
  const defaultTenant = nonEmpty(options.defaultTenant);
  const baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
  const doFetch: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const navigate = options.navigate ?? ((url: string) => globalThis.location.assign(url));
  const listeners = new Set<(state: SessionState) => void>();
  let state: SessionState = { status: 'loading' };
  // Bumped by every state change and every refresh start: an answer that arrives after either
  // is stale (say, a /bff/user 200 racing a logout) and must not overwrite the newer state.
  let epoch = 0;
  /** The newest `/bff/user` load: a load overtaken by a newer one answers with the newer result. */
  let latestLoad: Promise<SessionState> | undefined;
  let disposed = false;
  /** The re-check that 401s of the APIs asked for, while it is out: later ones wait for it too. */
  let pendingRecheck: Promise<void> | undefined;
  /**
   * Until when (epoch ms) the client's own checks wait, because Gatehouse answered with a
   * `Retry-After`; checks asked for meanwhile become one check at that time (`heldCheck`).
   * Calls the app makes itself are never held.
   */
  let checksHeldUntil = 0;
  let heldCheck: { timer: ReturnType<typeof setTimeout>; announceSignIn: boolean } | undefined;
  // Aborts the SDK's own requests on dispose, so a disposed client changes nothing afterwards.
  const lifetime = new AbortController();

  const expiry = createExpiryWatch({
    warningSeconds: options.expiryWarningSeconds ?? DEFAULT_EXPIRY_WARNING_SECONDS,
    onExpired: recheckQuietly,
  });
  const channel = openTabChannel(options.channelName ?? DEFAULT_CHANNEL_NAME, onTabMessage);
  const visibility = options.visibility ?? defaultVisibilitySource();
  visibility?.addEventListener('visibilitychange', onVisibilityChange);

  function setState(next: SessionState): void {
    epoch += 1;
    if (sameState(state, next)) return;
    state = next;
    expiry.watch(next.status === 'signed-in' ? next.user.session.expiresAt : undefined);
    for (const listener of [...listeners]) callSafely(() => listener(next));
  }

  function markSignedOut(reason: SignedOutReason | undefined, announce: boolean): void {
    // A logout explains a 401 that raced it: show "logged out", not "your session has ended".
    const relabelAsLogout =
      reason === 'logout' && state.status === 'signed-out' && state.reason !== 'logout';
    if (state.status === 'signed-out' && !relabelAsLogout) {
      epoch += 1;
      return;
    }
    setState(reason === undefined ? { status: 'signed-out' } : { status: 'signed-out', reason });
    if (announce && reason !== undefined) channel.post({ type: 'signed-out', reason });
  }

  async function send(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set(CSRF_HEADER, '1');
    if (!headers.has('accept')) headers.set('accept', 'application/json');
    try {
      return await doFetch(baseUrl + path, {
        ...init,
        headers,
        credentials: 'same-origin',
        signal: lifetime.signal,
      });
    } catch (error) {
      throw networkProblem(error);
    }
  }

  /**
   * Holds the client's own checks back for the `Retry-After` of `response` when it is the
   * answer to a session check (`GET /bff/user`) or Gatehouse's own 503 (its store or the
   * instance unavailable, which a session check would meet as well) to any call. An API's own
   * 503 or a 429 of a rate limit elsewhere say nothing about the session checks.
   */
  function heedRetryAfter(response: Response, sessionCheck: boolean): void {
    if (response.ok) return;
    const gatehouse503 = response.status === 503 && response.headers.has(GATEHOUSE_PROBLEM_HEADER);
    if (!sessionCheck && !gatehouse503) return;
    const ms = readRetryAfter(response.headers);
    if (ms === undefined) return;
    checksHeldUntil = Math.max(checksHeldUntil, Date.now() + Math.min(ms, MAX_CHECK_HOLD_MS));
  }

  /** A session check answered: Gatehouse is back, a held check has nothing left to learn. */
  function releaseHeldChecks(): void {
    checksHeldUntil = 0;
    if (heldCheck !== undefined) clearTimeout(heldCheck.timer);
    heldCheck = undefined;
  }

  /** A BFF call whose failure is an exception; a 401 also means the session is gone. */
  async function callBff(path: string, init: RequestInit): Promise<Response> {
    const response = await send(path, init);
    if (response.ok) return response;
    heedRetryAfter(response, false);
    const problem = await readProblem(response);
    if (response.status === 401) sessionGone(problem.code);
    throw problem;
  }

  /**
   * Gatehouse said there is no session. Only a client that showed one says why it ended: on a
   * first visit (still `loading`) it is plain signed-out, as `GET /bff/user` makes it, whichever
   * of the start-up requests answers first.
   */
  function sessionGone(code: string): void {
    markSignedOut(state.status === 'signed-in' ? reasonFor(code) : undefined, true);
  }

  /**
   * Asks `GET /bff/user` after a 401 that may not mean "no session". Many calls failing at once
   * share one check instead of sending one each.
   */
  function recheckAfterUnauthorized(): Promise<void> {
    // While checks are held, the call that failed does not wait minutes for its answer.
    if (Date.now() < checksHeldUntil) {
      recheckQuietly();
      return Promise.resolve();
    }
    pendingRecheck ??= loadUser(false, true)
      .then(ignore, ignore)
      .finally(() => {
        pendingRecheck = undefined;
      });
    return pendingRecheck;
  }

  /**
   * `GET /bff/user` and apply the answer unless something newer happened meanwhile.
   * `announceSignIn: false` for re-checks prompted by another tab's sign-in (no echo).
   */
  function loadUser(slide: boolean, announceSignIn: boolean): Promise<SessionState> {
    const ticket = (epoch += 1);
    const load: Promise<SessionState> = fetchUser(slide, announceSignIn, ticket).then((applied) =>
      applied || latestLoad === load || !latestLoad ? state : latestLoad,
    );
    latestLoad = load;
    return load;
  }

  /** Resolves true when the answer was applied, false when it was stale. */
  async function fetchUser(slide: boolean, announceSignIn: boolean, ticket: number) {
    const response = await send(slide ? '/bff/user' : '/bff/user?slide=false', { method: 'GET' });
    heedRetryAfter(response, true);
    if (response.status === 401) {
      const problem = await readProblem(response);
      if (ticket !== epoch || disposed) return false;
      releaseHeldChecks();
      // A first visit without a session is not "your session has ended".
      const reason = state.status === 'signed-in' ? reasonFor(problem.code) : undefined;
      markSignedOut(reason, true);
      return true;
    }
    if (!response.ok) throw await readProblem(response);
    const user = parseUser(await readJson(response), response.status);
    if (ticket !== epoch || disposed) return false;
    releaseHeldChecks();
    const previous = state;
    setState({ status: 'signed-in', user });
    const newcomer =
      previous.status !== 'signed-in' ||
      previous.user.claims.sub !== user.claims.sub ||
      previous.user.issuer !== user.issuer;
    if (announceSignIn && newcomer) channel.post({ type: 'signed-in' });
    return true;
  }

  /**
   * The client's own checks (the expiry timer, the tab shown again, another tab's sign-in, a 401
   * to be confirmed) never extend the session and never throw: failure is not sign-out. While
   * Gatehouse's `Retry-After` holds them, they wait for it, as one check.
   */
  function recheckQuietly(announceSignIn = true): void {
    if (disposed) return;
    const wait = checksHeldUntil - Date.now();
    if (wait <= 0) {
      loadUser(false, announceSignIn).catch(ignore);
      return;
    }
    // One held check for every reason; it announces a sign-in only if every reason would have.
    const announce = announceSignIn && (heldCheck?.announceSignIn ?? true);
    if (heldCheck !== undefined) clearTimeout(heldCheck.timer);
    heldCheck = {
      announceSignIn: announce,
      timer: setTimeout(() => {
        heldCheck = undefined;
        recheckQuietly(announce);
      }, wait),
    };
  }

  function onVisibilityChange(): void {
    if (visibility?.visibilityState === 'visible') recheckQuietly();
  }

  function onTabMessage(message: TabMessage): void {
    if (disposed) return;
    if (message.type === 'signed-out') markSignedOut(message.reason, false);
    // The tab that signed in already announced it; answering with our own announcement would echo.
    else recheckQuietly(false);
  }

  /**
   * An admin API call. Its 401 may mean "not an admin credential" rather than "no session", so
   * whatever the code, only `GET /bff/user` decides whether the user is signed out.
   */
  async function callAdmin(path: string, init: RequestInit): Promise<Response> {
    const response = await send(`/admin/api${path}`, init);
    if (response.ok) return response;
    heedRetryAfter(response, false);
    const problem = await readProblem(response);
    if (response.status === 401 && !disposed) await recheckAfterUnauthorized();
    throw problem;
  }

  /** After a 401 that is not Gatehouse's own "no session", ask Gatehouse before signing out. */
  async function settleApiUnauthorized(response: Response): Promise<void> {
    const code = response.headers.get(GATEHOUSE_PROBLEM_HEADER);
    if (code !== null && SESSION_GONE_CODES.has(code)) {
      sessionGone(code);
      return;
    }
    await recheckAfterUnauthorized();
  }

  function loginUrl(opts: LoginOptions = {}): string {
    const email = nonEmpty(opts.email);
    // An email finds its own tenant (home-realm discovery); the default is for neither.
    const tenant = nonEmpty(opts.tenant) ?? (email === undefined ? defaultTenant : undefined);
    if (tenant === undefined && email === undefined) {
      throw new TypeError(
        'login() needs to know where to sign in: pass { tenant } or { email }, ' +
          'or create the client with createGatehouseClient({ defaultTenant })',
      );
    }
    const params = new URLSearchParams({ returnTo: opts.returnTo ?? currentLocation() });
    if (tenant !== undefined) params.set('tenant', tenant);
    if (opts.provider !== undefined) params.set('provider', opts.provider);
    if (email !== undefined) params.set('email', email);
    return `${baseUrl}/bff/login?${params.toString()}`;
  }

  return {
    get state() {
      return state;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    refresh(opts = {}) {
      return loadUser(opts.slide ?? true, true);
    },
    loginUrl,
    login(opts?: LoginOptions) {
      navigate(loginUrl(opts));
    },
    async logout(opts: LogoutOptions = {}) {
      const returnTo = nonEmpty(opts.returnTo);
      if (returnTo !== undefined && !isSameOriginPath(returnTo)) {
        throw new TypeError(`logout() takes a same-origin returnTo path, not ${returnTo}`);
      }
      // This session's own logout link (`GET /bff/logout?sid=<handle>`), asked for when the
      // state does not hold it yet; without a session, the link without a handle just comes back.
      let link = state.status === 'signed-in' ? state.user.logoutUrl : undefined;
      if (link === undefined) {
        const response = await send('/bff/user?slide=false', { method: 'GET' }).catch(
          () => undefined,
        );
        if (response !== undefined) heedRetryAfter(response, true);
        if (response?.ok) {
          link = parseUser(await readJson(response), response.status).logoutUrl;
        } else if (response !== undefined && response.status !== 401) {
          throw await readProblem(response);
        }
      }
      const url = new URL(
        link !== undefined && isSameOriginPath(link) ? link : '/bff/logout',
        'http://x',
      );
      if (returnTo !== undefined) url.searchParams.set('returnTo', returnTo);
      markSignedOut('logout', true);
      // A navigation, not a fetch: Gatehouse answers with a redirect to the IdP's end-session
      // page, which a script must not read (it carries the ID token as `id_token_hint`).
      navigate(`${baseUrl}${url.pathname}${url.search}`);
    },
    async apiFetch(path, init = {}) {
      assertSameOriginPath(path);
      const headers = new Headers(init.headers);
      headers.set(CSRF_HEADER, '1');
      let response: Response;
      try {
        response = await doFetch(baseUrl + path, { ...init, headers, credentials: 'same-origin' });
      } catch (error) {
        // The caller's abort stays what fetch rejects with (the signal's reason: an AbortError,
        // a TimeoutError); every other failure to get an answer is a network_error problem.
        if (init.signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
          throw error;
        }
        throw networkProblem(error);
      }
      heedRetryAfter(response, false);
      if (response.status === 401 && !disposed) await settleApiUnauthorized(response);
      return response;
    },
    async listSessions(): Promise<GatehouseSessionInfo[]> {
      const response = await callBff('/bff/sessions', { method: 'GET' });
      return parseSessions(await readJson(response), response.status);
    },
    async endSession(id) {
      await callBff(`/bff/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
    },
    async endOtherSessions() {
      await callBff('/bff/sessions/end-others', { method: 'POST' });
    },
    async getTenant(tenant) {
      // Public: a failure here says nothing about the session.
      const response = await send(`/bff/tenants/${encodeURIComponent(tenant)}`, { method: 'GET' });
      heedRetryAfter(response, false);
      if (!response.ok) throw await readProblem(response);
      return parsePublicTenant(await readJson(response), response.status);
    },
    admin: { ...createAdminApi(callAdmin), ...createAdminConsoleApi(callAdmin) },
    onExpiryWarning(listener) {
      return expiry.onWarning(listener);
    },
    dispose() {
      disposed = true;
      releaseHeldChecks();
      lifetime.abort();
      channel.close();
      expiry.stop();
      visibility?.removeEventListener('visibilitychange', onVisibilityChange);
      listeners.clear();
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function reasonFor(code: string): SignedOutReason {
  return code === 'session_expired' ? 'expired' : 'unauthenticated';
}

function sameState(a: SessionState, b: SessionState): boolean {
  if (a.status === 'signed-in' && b.status === 'signed-in') {
    return JSON.stringify(a.user) === JSON.stringify(b.user);
  }
  if (a.status === 'signed-out' && b.status === 'signed-out') return a.reason === b.reason;
  return a.status === b.status;
}

function isSameOriginPath(path: string): boolean {
  // URL parsers drop tabs and newlines and read `\` as `/`: `/\t/evil.example` is `//evil.example`.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return false;
  return path.startsWith('/') && !path.startsWith('//');
}

// apiFetch adds the CSRF header and credentials: keep it from being pointed at another origin.
function assertSameOriginPath(path: string): void {
  if (!isSameOriginPath(path)) {
    throw new TypeError(`apiFetch takes a same-origin path starting with one "/", not ${path}`);
  }
}

function currentLocation(): string {
  if (typeof location === 'undefined') return '/';
  const here = `${location.pathname}${location.search}${location.hash}`;
  // Browsers leave `\` unencoded in queries and fragments; Gatehouse refuses such a returnTo.
  return here.includes('\\') ? location.pathname : here;
}

function defaultVisibilitySource(): VisibilitySource | undefined {
  return typeof document === 'undefined' ? undefined : document;
}

function ignore(): void {}
