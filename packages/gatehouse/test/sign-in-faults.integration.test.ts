import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCookieFetch,
  startRedisServer,
  startStack,
  type CookieFetch,
  type RedisServer,
  type Stack,
} from '@gatehouse/testkit';
import { SignJWT, generateKeyPair, type CryptoKey } from 'jose';
import {
  rawBody,
  signInThroughScriptedIdp,
  startScriptedIdp,
  withScriptedTenant,
  type ScriptedIdp,
} from './support/scripted-idp.ts';
import { jsonLines } from './support/json-lines.ts';
import { scrape } from './support/scrape.ts';
import { createLogger } from '../src/index.ts';

/** What the scripted token endpoint answers: a body (JSON, or {@link rawBody}) for a status. */
type TokenAnswer = (good: Record<string, unknown>) => Promise<{ status: number; body: unknown }>;

interface AuditLine {
  audit?: boolean;
  requestId?: string;
  action?: string;
  outcome?: string;
  reason?: string;
}

/**
 * Whose fault a failed sign-in is, told apart at the callback: a token answer of the IdP that
 * openid-client cannot use is the IdP failing (502 `idp_unavailable`, as the same answer at a
 * refresh), while a callback the browser brought back wrong stays a 4xx with its own code.
 * openid-client reports both with the same codes (`OAUTH_INVALID_RESPONSE`,
 * `OAUTH_UNSUPPORTED_OPERATION`). Real Redis and a hand-made OP whose token endpoint answers
 * what each row scripts; the status, the problem code, the audit event's reason and the login
 * failures metric's reason are checked for each.
 */
describe('a failed sign-in: the IdP’s answer or the browser’s callback', () => {
  let redis: RedisServer;
  let stack: Stack;
  let idp: ScriptedIdp;
  let otherKey: CryptoKey;
  const lines: AuditLine[] = [];
  const nonces = new Map<string, string>();
  let tokenCalls = 0;
  /** The token endpoint's answer; a correct one unless a row says otherwise. */
  let answer: TokenAnswer = async (good) => ({ status: 200, body: good });

  beforeAll(async () => {
    redis = await startRedisServer();
    otherKey = (await generateKeyPair('RS256')).privateKey;
    idp = await startScriptedIdp({
      authorize: (params) => nonces.set('the-code', params.get('nonce') ?? ''),
      token(form, reply) {
        tokenCalls += 1;
        const now = Math.floor(Date.now() / 1000);
        const claims = {
          iss: idp.issuer,
          aud: 'gatehouse',
          sub: 'dana',
          iat: now,
          exp: now + 300,
          ...(form.get('grant_type') === 'authorization_code'
            ? { nonce: nonces.get(form.get('code') ?? '') ?? '' }
            : {}),
        };
        void idp
          .sign(claims)
          .then((idToken) =>
            answer({
              access_token: `at-${Math.random()}`,
              token_type: 'Bearer',
              // Every API call refreshes first (skew 60 s).
              expires_in: 1,
              refresh_token: `rt-${Math.random()}`,
              id_token: idToken,
              // For the rows that sign the ID token with a key the IdP does not publish.
              claims,
            }),
          )
          .then(({ status, body }) => reply(status, body));
      },
    });
    const { issuer } = idp;
    stack = await startStack({
      redis,
      metrics: true,
      deps: { logger: createLogger('info', jsonLines(lines)) },
      configure: (input) =>
        withScriptedTenant(
          input,
          issuer,
          {
            id: 'faults',
            name: 'Faults',
            providers: [
              {
                id: 'plain',
                issuer,
                clientId: 'gatehouse',
                clientSecret: 'faults-client-secret',
                par: 'off',
              },
            ],
          },
          true,
        ),
    });
  });
  afterAll(async () => {
    await stack?.close();
    await idp?.close();
    await redis?.stop();
  });

  const plain = { tenant: 'faults', provider: 'plain' };
  const correct: TokenAnswer = async (good) => ({ status: 200, body: withoutClaims(good) });
  const withoutClaims = ({ claims: _claims, ...body }: Record<string, unknown>) => body;
  /** A correct answer with some members replaced (`undefined`: left out). */
  const changed =
    (members: Record<string, unknown>): TokenAnswer =>
    async (good) => ({ status: 200, body: { ...withoutClaims(good), ...members } });

  /** A request id made of a row's name (`x-request-id` takes letters, digits, `.`, `_`, `-`). */
  const idOf = (what: string, name: string) =>
    `${what}-${name.replace(/[^A-Za-z0-9]+/g, '-')}`.slice(0, 64);

  /** The audit event of the callback sent with this request id. */
  async function auditOf(requestId: string): Promise<AuditLine> {
    let found: AuditLine | undefined;
    await expect
      .poll(() => {
        found = lines.find(
          (line) =>
            line.audit === true && line.requestId === requestId && line.action === 'sign-in',
        );
        return found !== undefined;
      })
      .toBe(true);
    return found ?? {};
  }

  /** How much a counter's samples with these labels grew while `run` ran. */
  async function counted<T>(
    name: string,
    labels: Record<string, string>,
    run: () => Promise<T>,
  ): Promise<{ result: T; delta: number }> {
    const metricsOrigin = stack.gatehouses[0]?.metricsOrigin ?? '';
    const before = await scrape(metricsOrigin);
    const result = await run();
    const after = await scrape(metricsOrigin);
    const was = before.families.has(name) ? before.sum(name, labels) : 0;
    return { result, delta: after.sum(name, labels) - was };
  }

  const malformed: Array<[string, TokenAnswer]> = [
    ['token_type "mac"', changed({ token_type: 'mac' })],
    ['no access_token', changed({ access_token: undefined })],
    ['expires_in "soon"', changed({ expires_in: 'soon' })],
    ['a refresh_token that is a number', changed({ refresh_token: 42 })],
    ['an id_token that is not a JWT', changed({ id_token: 'not-a-jwt' })],
    ['an id_token of three parts that are not JSON', changed({ id_token: 'a.b.c' })],
    ['a JSON array', async () => ({ status: 200, body: [{ access_token: 'at' }] })],
    ['a JSON string', async () => ({ status: 200, body: 'ok' })],
    [
      'a 200 with an HTML page',
      async () => ({ status: 200, body: rawBody('<html>Sign in</html>', 'text/html') }),
    ],
    [
      'a 200 with an HTML page labelled as JSON',
      async () => ({ status: 200, body: rawBody('<html>Sign in</html>', 'application/json') }),
    ],
  ];

  it.each(malformed)(
    'a token answer with %s at the sign-in is the IdP failing: 502 idp_unavailable',
    async (name, malformedAnswer) => {
      answer = malformedAnswer;
      const requestId = idOf('sign-in', name);
      const http = createCookieFetch();
      const { result: res, delta } = await counted(
        'gatehouse_login_failures_total',
        { ...plain, reason: 'idp_unavailable' },
        () => signInThroughScriptedIdp(http, stack.origin, plain, requestId),
      );
      answer = correct;
      expect(res.status).toBe(502);
      expect(res.headers.get('gatehouse-problem')).toBe('idp_unavailable');
      expect(delta).toBe(1);
      expect(await auditOf(requestId)).toMatchObject({
        outcome: 'failure',
        reason: 'idp_unavailable',
      });
      expect((await http(`${stack.origin}/bff/user`)).status).toBe(401);
    },
  );

  it.each(malformed)(
    'the same answer (%s) at a refresh is the IdP failing too: 502 idp_unavailable, the session kept',
    async (name, malformedAnswer) => {
      answer = correct;
      const http = createCookieFetch();
      const signedIn = await signInThroughScriptedIdp(
        http,
        stack.origin,
        plain,
        idOf('login', name),
      );
      expect(signedIn.status).toBe(302);
      answer = malformedAnswer;
      const { result: api, delta } = await counted(
        'gatehouse_refreshes_total',
        { outcome: 'idp_unavailable' },
        () => http(`${stack.origin}/api/echo`, { headers: { 'x-csrf': '1' } }),
      );
      answer = correct;
      expect(api.status).toBe(502);
      expect(api.headers.get('gatehouse-problem')).toBe('idp_unavailable');
      expect(delta).toBe(1);
      expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
    },
  );

  /** An ID token the IdP signed with a key it does not publish, for the given claims. */
  const signedElsewhere: TokenAnswer = async (good) => ({
    status: 200,
    body: {
      ...withoutClaims(good),
      id_token: await new SignJWT(good.claims as Record<string, unknown>)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .sign(otherKey),
    },
  });

  /**
   * Callbacks that fail for what the browser brought back (or an ID token that reads as a JWT
   * and fails its checks, the code injection and mix-up defences): each keeps its 4xx and code.
   * `callback` makes the callback URL from a started sign-in's (and says which browser sends
   * it, when not the one that started); `tokenRequests` is how many token requests the row
   * costs.
   */
  const refused: Array<{
    name: string;
    callback: (url: URL, http: CookieFetch) => Promise<URL | { url: URL; from: CookieFetch }>;
    answer?: TokenAnswer;
    status: number;
    code: string;
    tokenRequests: number;
  }> = [
    {
      name: 'a state that was never issued',
      callback: async (url) => withParameters(url, { state: 'forged' }),
      status: 400,
      code: 'login_transaction_invalid',
      tokenRequests: 0,
    },
    {
      name: 'a callback replayed by another browser after its sign-in',
      callback: async (url, http) => {
        expect((await http(url.href)).status).toBe(302);
        return { url, from: createCookieFetch() };
      },
      status: 400,
      code: 'login_transaction_invalid',
      tokenRequests: 1,
    },
    {
      name: 'no code',
      callback: async (url) => withParameters(url, { code: undefined }),
      status: 400,
      code: 'login_failed',
      tokenRequests: 0,
    },
    {
      name: 'error=access_denied from the IdP',
      callback: async (url) => withParameters(url, { code: undefined, error: 'access_denied' }),
      status: 400,
      code: 'login_failed',
      tokenRequests: 0,
    },
    {
      name: 'an iss of another issuer (RFC 9207)',
      callback: async (url) => withParameters(url, { iss: 'https://elsewhere.example' }),
      status: 400,
      code: 'login_failed',
      tokenRequests: 0,
    },
    {
      name: 'an id_token in the callback (the implicit flow)',
      callback: async (url) => withParameters(url, { id_token: 'x.y.z' }),
      status: 400,
      code: 'login_failed',
      tokenRequests: 0,
    },
    {
      name: 'an id_token signed by a key the IdP does not publish',
      callback: async (url) => url,
      answer: signedElsewhere,
      status: 400,
      code: 'login_failed',
      tokenRequests: 1,
    },
    {
      name: 'an id_token for another nonce',
      callback: async (url) => url,
      answer: async (good) => ({
        status: 200,
        body: {
          ...withoutClaims(good),
          id_token: await idp.sign({ ...(good.claims as object), nonce: 'not-the-nonce' }),
        },
      }),
      status: 400,
      code: 'login_failed',
      tokenRequests: 1,
    },
  ];

  const withParameters = (url: URL, parameters: Record<string, string | undefined>): URL => {
    const changedUrl = new URL(url);
    for (const [name, value] of Object.entries(parameters)) {
      if (value === undefined) changedUrl.searchParams.delete(name);
      else changedUrl.searchParams.set(name, value);
    }
    return changedUrl;
  };

  it.each(refused)(
    'a callback with $name keeps its $status $code',
    async ({ name, callback, answer: rowAnswer, status, code, tokenRequests }) => {
      answer = rowAnswer ?? correct;
      const http = createCookieFetch();
      const start = await http(`${stack.origin}/bff/login?tenant=faults&provider=plain`);
      const authorization = new URL(start.headers.get('location') ?? '');
      await fetch(authorization);
      const url = new URL('/bff/callback/faults/plain', stack.origin);
      url.searchParams.set('code', 'the-code');
      url.searchParams.set('state', authorization.searchParams.get('state') ?? '');
      const requestId = idOf('refused', name);
      const before = tokenCalls;
      const made = await callback(url, http);
      const { url: target, from: browser } = made instanceof URL ? { url: made, from: http } : made;
      const { result: res, delta } = await counted(
        'gatehouse_login_failures_total',
        { ...plain, reason: code },
        () => browser(target.href, { headers: { 'x-request-id': requestId } }),
      );
      answer = correct;
      expect(res.status).toBe(status);
      expect(res.headers.get('gatehouse-problem')).toBe(code);
      expect(tokenCalls - before).toBe(tokenRequests);
      expect(delta).toBe(1);
      expect(await auditOf(requestId)).toMatchObject({ outcome: 'failure', reason: code });
      expect((await browser(`${stack.origin}/bff/user`)).status).toBe(401);
    },
  );

  it('a correct answer signs in (the harness works)', async () => {
    answer = correct;
    const http = createCookieFetch();
    const res = await signInThroughScriptedIdp(http, stack.origin, plain, 'correct');
    expect(res.status).toBe(302);
    expect((await http(`${stack.origin}/bff/user`)).status).toBe(200);
  });
});
