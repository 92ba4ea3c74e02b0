/*
 * Slightly over 300 lines on purpose: the server-rendered pages are one template (layout,
 * stylesheet, the error page's next step per problem code) read together; the per-code next
 * steps are a table, not logic.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Request, RequestHandler, Response } from 'express';
import type { GatehouseError } from '../errors.ts';
import type { ProblemCode } from '../problems.ts';
import { signInRetrySlot, type SignInRetry } from './request-state.ts';

/**
 * The pages Gatehouse renders itself (a sign-in that failed, an unknown organisation, a bad
 * return path, an expired sign-in), in the design system of the SPA: the stylesheet of
 * `@gatehouse/design`, served by Gatehouse under a content-hashed name (cached for a year,
 * `style-src 'self'`), no inline style or script, a viewport meta, and always a next step.
 */

/** The design system's stylesheet: read once, named by its content hash. */
interface Stylesheet {
  path: string;
  body: Buffer;
}

let stylesheet: Stylesheet | undefined;

function pageStylesheet(): Stylesheet {
  if (!stylesheet) {
    const file = fileURLToPath(import.meta.resolve('@gatehouse/design/gatehouse.css'));
    const body = readFileSync(file);
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
    stylesheet = { path: `/bff/assets/gatehouse.${hash}.css`, body };
  }
  return stylesheet;
}

/** Where the pages' stylesheet is served; the file name changes with its content. */
export const PAGE_ASSETS_PREFIX = '/bff/assets';

/**
 * `GET /bff/assets/<name>`: the stylesheet under its current hashed name, cacheable for good;
 * any other name falls through (404).
 */
export function pageAssets(): RequestHandler {
  return (req, res, next) => {
    const css = pageStylesheet();
    if (req.path !== css.path) return next();
    res.setHeader('cache-control', 'public, max-age=31536000, immutable');
    res.type('text/css').send(css.body);
  };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A link or button on a page: the first one is the primary action. */
interface PageAction {
  label: string;
  href: string;
}

interface PageContent {
  /** The document title and heading. */
  heading: string;
  /** Sentences shown under the heading, each escaped. */
  paragraphs: string[];
  tone: 'error' | 'warning' | 'info';
  actions: PageAction[];
  /** Shown inside the "Details" disclosure (the stable code, the status). */
  details?: { code: string; status: number };
}

/** A whole standalone page in the design system. */
export function renderPage(content: PageContent): string {
  const css = pageStylesheet();
  const icon = content.tone === 'info' ? 'i' : '!';
  const actions = content.actions
    .map(
      (action, index) =>
        `<a class="button${index === 0 ? '' : ' button--secondary'}" href="${escapeHtml(action.href)}">${escapeHtml(action.label)}</a>`,
    )
    .join('');
  const details = content.details
    ? `<details class="details"><summary>Details</summary><dl class="kv">` +
      `<dt>Code</dt><dd><code>${escapeHtml(content.details.code)}</code></dd>` +
      `<dt>Status</dt><dd>${content.details.status}</dd></dl></details>`
    : '';
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="color-scheme" content="light dark">` +
    `<meta name="robots" content="noindex">` +
    `<title>${escapeHtml(content.heading)} · Gatehouse</title>` +
    `<link rel="stylesheet" href="${css.path}"></head>` +
    `<body><div class="standalone">` +
    `<a class="brand standalone__brand" href="/"><span class="brand__mark" aria-hidden="true">G</span>Gatehouse</a>` +
    `<main class="card standalone__card">` +
    `<div class="standalone__icon standalone__icon--${content.tone}" aria-hidden="true">${icon}</div>` +
    `<h1>${escapeHtml(content.heading)}</h1>` +
    content.paragraphs.map((text) => `<p>${escapeHtml(text)}</p>`).join('') +
    `<div class="actions">${actions}</div>${details}</main></div></body></html>`
  );
}

export type { SignInRetry };

/** Remembers, for the error page of this answer, how to restart the sign-in. */
export function setSignInRetry(res: Response, retry: SignInRetry): void {
  signInRetrySlot.set(res, retry);
}

function signInRetryOf(res: Response): SignInRetry | undefined {
  return signInRetrySlot.get(res);
}

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

/** `/bff/login?tenant=…&provider=…&returnTo=…` (a path of this site: never a foreign URL). */
function loginHref(retry: Partial<SignInRetry>): string {
  const params = new URLSearchParams();
  if (retry.tenant && SLUG.test(retry.tenant)) params.set('tenant', retry.tenant);
  if (retry.provider && SLUG.test(retry.provider)) params.set('provider', retry.provider);
  if (retry.returnTo && retry.returnTo !== '/') params.set('returnTo', retry.returnTo);
  const query = params.toString();
  return query ? `/bff/login?${query}` : '/bff/login';
}

/** The same `/bff/login` request again, without the parameters named (they caused the failure). */
function sameLogin(req: Request, without: string[] = []): string {
  const url = new URL(req.originalUrl, 'http://gatehouse.invalid');
  for (const name of without) url.searchParams.delete(name);
  return `/bff/login${url.search}`;
}

/**
 * How to restart the sign-in that failed: on the callback, what the route remembered (the
 * transaction's return path) or else the tenant and provider of the path; on `/bff/login`, the
 * same request.
 */
function retryHref(req: Request, res: Response): string {
  const remembered = signInRetryOf(res);
  if (remembered) return loginHref(remembered);
  const callback = /^\/bff\/callback\/([^/]+)\/([^/]+)$/.exec(req.path);
  if (callback) return loginHref({ tenant: callback[1], provider: callback[2] });
  return sameLogin(req);
}

/** Where the app is, for "Back to the app": the remembered return path, else the home page. */
function appHref(res: Response): string {
  return signInRetryOf(res)?.returnTo ?? '/';
}

/** The page's words and next steps for each code a sign-in navigation may meet. */
function pageContent(req: Request, res: Response, error: GatehouseError): PageContent {
  const detail = error.expose ? error.message : 'Something went wrong. Try again in a moment.';
  const details = { code: error.code, status: error.status };
  const tryAgain = { label: 'Try again', href: retryHref(req, res) };
  const backToApp = { label: 'Back to the app', href: appHref(res) };
  const toSignIn = { label: 'Go to sign-in', href: '/' };
  const byCode: Partial<Record<ProblemCode, () => PageContent>> = {
    login_failed: () => ({
      heading: 'You were not signed in',
      paragraphs: [detail, 'You can start the sign-in again.'],
      tone: 'warning',
      actions: [tryAgain, backToApp],
      details,
    }),
    login_expired: () => ({
      heading: 'This sign-in expired',
      paragraphs: [
        detail,
        'Nothing is wrong with your account: start again and finish within ten minutes.',
      ],
      tone: 'info',
      actions: [{ label: 'Sign in again', href: retryHref(req, res) }, backToApp],
      details,
    }),
    login_transaction_invalid: () => ({
      heading: 'This sign-in cannot be completed',
      paragraphs: [
        detail,
        'If you did not start it yourself, close this page. Otherwise, start a new sign-in.',
      ],
      tone: 'error',
      actions: [{ label: 'Start a new sign-in', href: retryHref(req, res) }, backToApp],
      details,
    }),
    invalid_callback: () => ({
      heading: 'This sign-in cannot be completed',
      paragraphs: [detail, 'Start a new sign-in from the app.'],
      tone: 'error',
      actions: [{ label: 'Start a new sign-in', href: retryHref(req, res) }, backToApp],
      details,
    }),
    idp_unavailable: () => ({
      heading: 'Your sign-in service is not answering',
      paragraphs: [detail, 'This is usually brief.'],
      tone: 'warning',
      actions: [tryAgain, backToApp],
      details,
    }),
    store_unavailable: () => ({
      heading: 'Sign-in is unavailable for a moment',
      paragraphs: ['We could not reach our session storage. Try again in a few seconds.'],
      tone: 'warning',
      actions: [tryAgain, backToApp],
      details,
    }),
    rate_limited: () => ({
      heading: 'Too many sign-in attempts',
      paragraphs: [detail, `Try again in ${error.headers['retry-after'] ?? '60'} seconds.`],
      tone: 'warning',
      actions: [tryAgain, backToApp],
      details,
    }),
    unknown_email_domain: () => ({
      heading: 'We do not recognise this email address',
      paragraphs: [
        detail,
        'Check the address for typos, or ask your administrator how to sign in.',
      ],
      tone: 'warning',
      actions: [{ label: 'Use another email', href: '/' }],
      details,
    }),
    unknown_tenant: () => ({
      heading: 'Unknown organisation',
      paragraphs: [
        'The link you followed names an organisation we do not know.',
        'Sign in with your email address instead: we find your organisation from it.',
      ],
      tone: 'warning',
      actions: [toSignIn],
      details,
    }),
    unknown_provider: () => ({
      heading: 'This sign-in method is not available',
      paragraphs: [detail, 'Choose another way to sign in.'],
      tone: 'warning',
      actions: [toSignIn],
      details,
    }),
    tenant_required: () => ({
      heading: 'Choose your organisation',
      paragraphs: [detail, 'Sign in with your email address: we find your organisation from it.'],
      tone: 'info',
      actions: [toSignIn],
      details,
    }),
    invalid_return_to: () => ({
      heading: 'This sign-in link points elsewhere',
      paragraphs: [
        'The page to return to after signing in is not a page of this site, so the link was not followed.',
        'You can still sign in and start from the home page.',
      ],
      tone: 'warning',
      actions: [
        { label: 'Sign in', href: sameLogin(req, ['returnTo']) },
        { label: 'Go to the home page', href: '/' },
      ],
      details,
    }),
    idp_client_rejected: () => ({
      heading: 'Sign-in with this provider is misconfigured',
      paragraphs: [
        detail,
        'Your administrator needs to fix this provider; trying again will not help until then.',
      ],
      tone: 'error',
      actions: [backToApp],
      details,
    }),
    invalid_parameter: () => ({
      heading: 'This sign-in link is malformed',
      paragraphs: [detail, 'Start the sign-in from the app.'],
      tone: 'warning',
      actions: [toSignIn],
      details,
    }),
  };
  // A refused sign-out (a foreign form, a link for another session) changed nothing.
  if (req.path === '/bff/logout') {
    return {
      heading: error.status >= 500 ? 'Something went wrong' : 'You were not signed out',
      paragraphs: [detail, 'Use the app’s Sign out button to sign out.'],
      tone: error.status >= 500 ? 'warning' : 'error',
      actions: [backToApp],
      details,
    };
  }
  return (
    byCode[error.code]?.() ?? {
      heading: error.status >= 500 ? 'Something went wrong' : 'Sign-in problem',
      paragraphs: [detail],
      tone: 'error',
      actions: [tryAgain, backToApp],
      details,
    }
  );
}

/** The page for a browser navigation to `/bff/login`, `/bff/callback` or `/bff/logout` that failed. */
export function sendErrorPage(req: Request, res: Response, error: GatehouseError): void {
  const retryAfter = error.status === 429 ? error.headers['retry-after'] : undefined;
  res.status(error.status).setHeader('cache-control', 'no-store');
  res.setHeader('gatehouse-problem', error.code);
  if (retryAfter) res.setHeader('retry-after', retryAfter);
  res.type('html').send(renderPage(pageContent(req, res, error)));
}
