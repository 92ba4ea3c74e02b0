import http from 'node:http';
import https from 'node:https';
import type { APIRequestContext, BrowserContext } from '@playwright/test';
import { CookieJar, type Cookie } from 'tough-cookie';

/** What a sign-in hop needs to know of an answer. */
export interface HopResponse {
  status: number;
  url: string;
  /** The `Location` header, absolute. */
  location: string | undefined;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/** The HTTP client of a sign-in: never follows redirects; keeps the cookies of its browser. */
export interface SignInClient {
  get(url: string): Promise<HopResponse>;
  post(
    url: string,
    body: { form: Record<string, string> } | { json: unknown },
  ): Promise<HopResponse>;
}

function absolute(location: string | null | undefined, from: string): string | undefined {
  return location ? new URL(location, from).href : undefined;
}

/**
 * A browser context's own request context (`context.request`): the sign-in reads and writes
 * the browser's cookies, hop by hop.
 */
export function playwrightClient(request: APIRequestContext): SignInClient {
  const wrap = async (pending: ReturnType<APIRequestContext['get']>): Promise<HopResponse> => {
    const response = await pending;
    return {
      status: response.status(),
      url: response.url(),
      location: absolute(response.headers()['location'], response.url()),
      text: () => response.text(),
      json: () => response.json(),
    };
  };
  const options = { maxRedirects: 0, failOnStatusCode: false } as const;
  return {
    get: (url) => wrap(request.get(url, options)),
    post: (url, body) =>
      wrap(
        request.post(url, {
          ...options,
          ...('form' in body ? { form: body.form } : { data: body.json }),
        }),
      ),
  };
}

type PlaywrightCookie = Parameters<BrowserContext['addCookies']>[0][number];

const SAME_SITE = { strict: 'Strict', lax: 'Lax', none: 'None' } as const;

/**
 * One pool of keep-alive connections per worker process, shared by its sign-ins (a sign-in's
 * cookies are its own: see `JarClient`). `node:http`, already loaded in a Playwright worker.
 */
/**
 * How long an idle pooled connection is kept: longer than one test takes on a busy machine, so
 * the next test's sign-in reuses it. A server that closes idle connections sooner says so in
 * its `Keep-Alive: timeout=…` header (Node's servers do: Gatehouse 65 s, the dev IdP 65 s, a
 * Vite dev server 5 s), which Node's agent honours (it stops reusing a socket a second before
 * that); a connection the server closed is dropped from the pool when it closes.
 */
const IDLE_MS = 30_000;
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_MS }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_MS }),
};

/** A request never waits longer than this (Playwright's own default for API requests). */
const HOP_TIMEOUT_MS = 30_000;

function send(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const target = new URL(url);
  const protocol = target.protocol === 'https:' ? https : http;
  const agent = target.protocol === 'https:' ? agents['https:'] : agents['http:'];
  return new Promise((resolve, reject) => {
    const request = protocol.request(target, { method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    request.setTimeout(HOP_TIMEOUT_MS, () =>
      request.destroy(new Error(`no answer from ${target.origin} in ${HOP_TIMEOUT_MS} ms`)),
    );
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * A fresh cookie jar of its own (tough-cookie) over the worker's pooled keep-alive connections:
 * nothing of another sign-in (no IdP session, no Gatehouse cookie) is ever sent, and no
 * Playwright request context is made. `cookies()` hands what the sign-in got to
 * `context.addCookies`.
 */
export class JarClient implements SignInClient {
  readonly jar = new CookieJar();

  async get(url: string): Promise<HopResponse> {
    return this.#send(url, 'GET', {}, undefined);
  }

  async post(
    url: string,
    body: { form: Record<string, string> } | { json: unknown },
  ): Promise<HopResponse> {
    return 'form' in body
      ? this.#send(
          url,
          'POST',
          { 'content-type': 'application/x-www-form-urlencoded' },
          new URLSearchParams(body.form).toString(),
        )
      : this.#send(url, 'POST', { 'content-type': 'application/json' }, JSON.stringify(body.json));
  }

  /** Every cookie the sign-in got, as `context.addCookies` takes them. */
  async cookies(): Promise<PlaywrightCookie[]> {
    const all: Cookie[] = await this.jar.store.getAllCookies();
    return all.map((cookie) => {
      const expiry = cookie.expiryTime();
      return {
        name: cookie.key,
        value: cookie.value,
        domain: cookie.hostOnly ? (cookie.domain ?? '') : `.${cookie.domain ?? ''}`,
        path: cookie.path ?? '/',
        expires: expiry === undefined || !Number.isFinite(expiry) ? -1 : expiry / 1000,
        httpOnly: cookie.httpOnly,
        secure: cookie.secure,
        sameSite: SAME_SITE[cookie.sameSite as keyof typeof SAME_SITE] ?? 'Lax',
      };
    });
  }

  async #send(
    url: string,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<HopResponse> {
    // The jar's store is tough-cookie's in-memory one: its synchronous calls do the same as the
    // promise-returning ones, without a promise and a callback per call.
    const cookie = this.jar.getCookieStringSync(url);
    const response = await send(url, method, cookie ? { ...headers, cookie } : headers, body);
    for (const setCookie of response.headers['set-cookie'] ?? []) {
      this.jar.setCookieSync(setCookie, url, { ignoreError: true });
    }
    return {
      status: response.status,
      url,
      location: absolute(response.headers.location, url),
      text: () => Promise.resolve(response.text),
      json: () => Promise.resolve(JSON.parse(response.text) as unknown),
    };
  }
}
