// Plain HTML pages of the dev IdP. Everything is inline: no remote fonts, scripts or styles.

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}' +
  'label,input,button{display:block;width:100%;box-sizing:border-box;margin:.3rem 0}' +
  'input,button{padding:.5rem;font-size:1rem}.error{color:#b00020}';

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
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}${tail}</body></html>`;
}

export function loginPage(opts: {
  action: string;
  realmLabel: string;
  login?: string;
  error?: string;
}): string {
  const error = opts.error ? `<p class="error" role="alert">${escapeHtml(opts.error)}</p>` : '';
  return page(
    `Sign in to ${opts.realmLabel}`,
    `${error}<form method="post" action="${escapeHtml(opts.action)}">
<label for="login">Username</label>
<input id="login" name="login" autocomplete="username" required autofocus value="${escapeHtml(opts.login ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}

export function consentPage(opts: { action: string; clientId: string; scopes: string[] }): string {
  const items = opts.scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('');
  return page(
    'Authorize access',
    `<p><strong>${escapeHtml(opts.clientId)}</strong> asks for:</p><ul>${items}</ul>
<form method="post" action="${escapeHtml(opts.action)}"><button type="submit" autofocus>Continue</button></form>`,
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
