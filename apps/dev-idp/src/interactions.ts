import { createHash, timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { Request, Response, Router } from 'express';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { consentPage, loginPage, PAGE_CSP } from './pages.ts';
import type { DevIdpRealm, DevIdpUser } from './realms.ts';
import type { UserDirectory } from './users.ts';

/** An error whose status and message are safe to show to the caller. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Where an interaction's pages are: below its resume URL, `<realm>/auth/<uid>`. */
export function interactionPath(realmPath: string, uid: string): string {
  return `${realmPath}/auth/${encodeURIComponent(uid)}/interaction`;
}

type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

const INVALID_CREDENTIALS = 'Invalid username or password';

function formField(body: unknown, name: string): string {
  if (typeof body !== 'object' || body === null) return '';
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value.slice(0, 256) : '';
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function authenticate(
  users: UserDirectory,
  login: string,
  password: string,
): DevIdpUser | undefined {
  const user = users.find(login);
  return user && sameSecret(user.password, password) ? user : undefined;
}

/** Sends one of the dev IdP's HTML pages with a strict CSP and no caching. */
export function sendPage(res: Response, status: number, html: string): void {
  res
    .status(status)
    .set({ 'content-security-policy': PAGE_CSP, 'cache-control': 'no-store' })
    .type('html')
    .send(html);
}

/** Loads the interaction from its cookie and checks it is the one named in the URL. */
async function loadInteraction(
  provider: Provider,
  req: Request,
  res: Response,
  prompt?: string,
): Promise<InteractionDetails> {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== req.params['uid'])
    throw new HttpError(400, 'This sign-in request is no longer valid.');
  if (prompt && details.prompt.name !== prompt)
    throw new HttpError(400, 'Unexpected step for this sign-in request.');
  return details;
}

function requestedScopes(details: InteractionDetails): string[] {
  const scope = details.params['scope'];
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Grants what the consent prompt reports missing: OIDC scopes (incl. offline_access), claims, resource scopes. */
async function grantConsent(
  provider: Provider,
  details: InteractionDetails,
): Promise<InteractionResults> {
  const { accountId } = details.session ?? {};
  const clientId = details.params['client_id'];
  if (!accountId || typeof clientId !== 'string')
    throw new HttpError(400, 'No signed-in user for this request.');
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId });
  if (!grant) throw new HttpError(400, 'This sign-in request is no longer valid.');
  const missing = details.prompt.details;
  const scopes = stringList(missing['missingOIDCScope']);
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const claims = stringList(missing['missingOIDCClaims']);
  if (claims.length) grant.addOIDCClaims(claims);
  const resourceScopes = missing['missingResourceScopes'];
  if (typeof resourceScopes === 'object' && resourceScopes !== null) {
    for (const [indicator, list] of Object.entries(resourceScopes)) {
      grant.addResourceScope(indicator, stringList(list).join(' '));
    }
  }
  const grantId = await grant.save();
  return { consent: details.grantId ? {} : { grantId } };
}

type ProviderCallback = ReturnType<Provider['callback']>;

/**
 * Ends the interaction with `result` (oidc-provider's `interactionResult`) and answers with what
 * the browser's next request would get: the authorization endpoint's resume,
 * `GET <realm>/auth/<uid>`, run by oidc-provider itself (`provider.callback()`) in this same
 * request — the redirect to the client's `redirect_uri` with the code, or the next interaction
 * (consent). The interaction's forms post below the resume URL (`interactionPath`), where the
 * resume cookie oidc-provider set with the interaction is scoped: it came with this request, and
 * the resume checks it, the interaction and the IdP session exactly as on a request of its own.
 * One round trip fewer for a browser (and the Playwright fixtures' HTTP sign-in).
 */
async function finishAndResume(
  provider: Provider,
  resume: ProviderCallback,
  realmPath: string,
  req: Request,
  res: Response,
  result: InteractionResults,
  mergeWithLastSubmission: boolean,
): Promise<void> {
  const returnTo = await provider.interactionResult(req, res, result, { mergeWithLastSubmission });
  const path = new URL(returnTo).pathname;
  if (!path.startsWith(`${realmPath}/`)) throw new Error(`resume URL outside the realm: ${path}`);
  // As a mount does: the full path, and the path below the realm, from which oidc-provider
  // derives its mount path.
  req.method = 'GET';
  req.originalUrl = path;
  req.url = path.slice(realmPath.length);
  await resume(req, res);
}

/**
 * Login and consent pages of one realm; mount at the realm's path. `resume` is the realm's
 * oidc-provider handler (`provider.callback()`), which runs the authorization endpoint's resume.
 */
export function interactionRouter(
  provider: Provider,
  realm: DevIdpRealm,
  users: UserDirectory,
  resume: ProviderCallback,
): Router {
  const router = express.Router();
  const formBody = express.urlencoded({ extended: false, limit: '8kb' });
  const realmLabel = realm.path ? realm.path.slice(1) : 'dev IdP';
  const action = (uid: string, step: string) => `${interactionPath(realm.path, uid)}/${step}`;
  const finish = (req: Request, res: Response, result: InteractionResults, merge: boolean) =>
    finishAndResume(provider, resume, realm.path, req, res, result, merge);

  router.get('/auth/:uid/interaction', async (req, res) => {
    const details = await loadInteraction(provider, req, res);
    if (details.prompt.name === 'login') {
      sendPage(
        res,
        200,
        loginPage({
          action: action(details.uid, 'login'),
          cancelAction: action(details.uid, 'abort'),
          realmLabel,
        }),
      );
    } else if (details.prompt.name === 'consent') {
      const clientId = String(details.params['client_id']);
      sendPage(
        res,
        200,
        consentPage({
          action: action(details.uid, 'confirm'),
          cancelAction: action(details.uid, 'abort'),
          clientId,
          scopes: requestedScopes(details),
        }),
      );
    } else {
      throw new HttpError(400, 'Unsupported sign-in step.');
    }
  });

  router.post('/auth/:uid/interaction/login', formBody, async (req, res) => {
    const details = await loadInteraction(provider, req, res, 'login');
    const login = formField(req.body, 'login');
    const user = authenticate(users, login, formField(req.body, 'password'));
    if (!user) {
      const page = loginPage({
        action: action(details.uid, 'login'),
        cancelAction: action(details.uid, 'abort'),
        realmLabel,
        login,
        error: INVALID_CREDENTIALS,
      });
      sendPage(res, 401, page);
      return;
    }
    // A user who consented up front answers the consent step here too (even one the client
    // asks for with prompt=consent); the grant itself is made on resume (provider.ts).
    const result: InteractionResults = user.consentGiven
      ? { login: { accountId: user.id }, consent: {} }
      : { login: { accountId: user.id } };
    await finish(req, res, result, false);
  });

  // "Cancel" on either page: the user declines, the client gets error=access_denied.
  router.post('/auth/:uid/interaction/abort', formBody, async (req, res) => {
    await loadInteraction(provider, req, res);
    await finish(
      req,
      res,
      { error: 'access_denied', error_description: 'The user cancelled the sign-in.' },
      false,
    );
  });

  router.post('/auth/:uid/interaction/confirm', formBody, async (req, res) => {
    const details = await loadInteraction(provider, req, res, 'consent');
    const result = await grantConsent(provider, details);
    await finish(req, res, result, true);
  });

  return router;
}
