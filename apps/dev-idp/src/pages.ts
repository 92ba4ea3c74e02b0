// Plain HTML pages of the dev IdP, in Gatehouse's design system (@gatehouse/design), inlined:
// no remote fonts, scripts or styles.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const STYLE =
  readFileSync(fileURLToPath(import.meta.resolve('@gatehouse/design/gatehouse.css')), 'utf8') +
  '.error{margin:0;color:var(--error-fg);font-weight:600}.idp-badge{margin-left:auto}' +
  '.cancel{margin-top:var(--space-3)}.cancel button{width:100%}';

/** CSP for the interaction pages: inline styles only, nothing else may load. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for use in HTML content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch] ?? ch);
}

function page(title: string, body: string, tail = ''): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><div class="standalone"><div class="brand standalone__brand"><span class="brand__mark" aria-hidden="true">D</span>Dev IdP<span class="badge">development only</span></div>
<main class="card standalone__card"><h1>${escapeHtml(title)}</h1>${body}</main></div>${tail}</body></html>`;
}

/** A second form after the page's main one: ends the interaction with access_denied. */
function cancelForm(action: string | undefined): string {
  if (!action) return '';
  return `<form class="cancel" method="post" action="${escapeHtml(action)}"><button type="submit" class="button--secondary">Cancel</button></form>`;
}

export function loginPage(opts: {
  action: string;
  realmLabel: string;
  login?: string;
  error?: string;
  /** Where "Cancel" posts (the interaction's abort step). */
  cancelAction?: string;
}): string {
  const error = opts.error
    ? `<div class="notice notice--error"><p class="error" role="alert">${escapeHtml(opts.error)}</p></div>`
    : '';
  return page(
    `Sign in to ${opts.realmLabel}`,
    `${error}<form method="post" action="${escapeHtml(opts.action)}">
<label for="login">Username</label>
<input id="login" name="login" autocomplete="username" required autofocus value="${escapeHtml(opts.login ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>${cancelForm(opts.cancelAction)}`,
  );
}

export function consentPage(opts: {
  action: string;
  clientId: string;
  scopes: string[];
  cancelAction?: string;
}): string {
  const items = opts.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('');
  return page(
    'Authorize access',
    `<p><strong>${escapeHtml(opts.clientId)}</strong> asks for:</p><ul class="scope-list">${items}</ul>
<form method="post" action="${escapeHtml(opts.action)}"><button type="submit" autofocus>Continue</button></form>${cancelForm(opts.cancelAction)}`,
  );
}

/**
 * Logout confirmation that submits itself (full sign-out) so browsers return straight to the
 * post_logout_redirect_uri. `form` is oidc-provider's form with the xsrf input, already safe.
 */
export function logoutPage(form: string): string {
  const fullLogout = form.replace(
    '</form>',
    '<input type="hidden" name="logout" value="yes"/></form>',
  );
  return page(
    'Signing out',
    `${fullLogout}<button type="submit" form="op.logoutForm">Sign out</button>`,
    '<script>document.forms[0].submit()</script>',
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<p>${escapeHtml(message)}</p>`);
}
