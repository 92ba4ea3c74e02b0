import type { Request, RequestHandler, Response } from 'express';
import type { GatehouseContext } from '../context.ts';
import { problem } from '../errors.ts';
import { filterClaims, sessionUser } from '../session/model.ts';
import { matchesAdminRule } from '../tenants/admin-rule.ts';
import { readRequestSession, sessionClaims } from './session-access.ts';

/** Who may start a test sign-in: what it uses of the context. */
export type TestSignInDeps = Pick<
  GatehouseContext,
  'clock' | 'config' | 'cookies' | 'metrics' | 'registry' | 'sessions' | 'testControls' | 'vault'
>;

/**
 * A tenant admin's test sign-in (`GET /bff/login?tenant=…&provider=…&mode=test`, opened by the
 * admin console in a popup): the whole code flow against the provider, then a small page saying
 * what the IdP answered. No session is created or replaced: the admin's own stays as it is.
 */

/** The BroadcastChannel the result page posts to (the console listens on it). */
export const TEST_SIGN_IN_CHANNEL = 'gatehouse-test-sign-in';

/**
 * Who may start a test sign-in for `tenantId`: a signed-in admin of exactly that tenant (by the
 * session cookie, which is SameSite=Strict: a cross-site page cannot start one). Returns the
 * admin's user digest, kept in the login transaction for the audit trail.
 */
export async function testSignInAdmin(
  ctx: TestSignInDeps,
  req: Request,
  tenantId: string,
): Promise<string> {
  // Read straight from the store: `/bff/login` runs without express-session.
  const session = await readRequestSession(ctx, req);
  const record = session?.record;
  if (!session || !record) {
    throw problem('unauthenticated', {
      detail: 'Sign in as an administrator of this organisation to test its providers.',
    });
  }
  if (record.tenant !== tenantId) throw problem('tenant_forbidden');
  const tenant = await ctx.registry.tenant(record.tenant);
  if (!tenant || !matchesAdminRule(await sessionClaims(ctx, req, session), tenant.adminRule)) {
    throw problem('not_admin');
  }
  return sessionUser(record);
}

/** What the result page says, and what it posts to the console. */
export interface TestSignInResult {
  type: 'gatehouse:test-sign-in';
  tenant: string;
  provider: string;
  displayName: string;
  ok: true;
  subject: string;
  /** The identity claims the IdP sent (those a session would keep), as text. */
  claims: Record<string, string>;
}

export function testSignInResult(
  tenant: string,
  provider: { id: string; displayName: string },
  claims: Record<string, unknown>,
): TestSignInResult {
  const shown: Record<string, string> = {};
  for (const [name, value] of Object.entries(filterClaims(claims))) {
    if (name === 'sub') continue;
    shown[name] = (Array.isArray(value) ? value : [value])
      .map((item) => claimText(item))
      .join(', ');
  }
  return {
    type: 'gatehouse:test-sign-in',
    tenant,
    provider: provider.id,
    displayName: provider.displayName,
    ok: true,
    subject: String(claims.sub),
    claims: shown,
  };
}

function claimText(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The result page: server-rendered, no inline script or style (the CSP allows neither). */
export function sendTestSignInPage(res: Response, result: TestSignInResult): void {
  const rows = Object.entries(result.claims)
    .map(([name, value]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(value)}</dd>`)
    .join('');
  // A JSON data block is never executed; `<` escaped so no value can close the element.
  const data = JSON.stringify(result).replace(/</g, '\\u003c');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test sign-in works</title>
<link rel="stylesheet" href="${TEST_SIGN_IN_ASSETS}.css">
</head>
<body>
<main class="card" data-testid="test-sign-in-result">
<p class="badge">Test sign-in</p>
<h1>Sign-in with ${escapeHtml(result.displayName)} works</h1>
<p>Subject: <code data-testid="test-sign-in-subject">${escapeHtml(result.subject)}</code></p>
${rows === '' ? '<p>The identity provider sent no other identity claims.</p>' : `<h2>Claims</h2><dl>${rows}</dl>`}
<p class="note">No session was created: your own sign-in is unchanged.</p>
<p><button type="button" id="close">Close this window</button></p>
</main>
<script type="application/json" id="gatehouse-test-sign-in">${data}</script>
<script src="${TEST_SIGN_IN_ASSETS}.js"></script>
</body>
</html>
`;
  res.status(200).type('html').send(html);
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? '',
  );
}

/** Where the result page's script and stylesheet are served (`.js`, `.css`). */
export const TEST_SIGN_IN_ASSETS = '/bff/test-sign-in';

const SCRIPT = `(() => {
  const data = document.getElementById('gatehouse-test-sign-in');
  if (data && 'BroadcastChannel' in window) {
    const channel = new BroadcastChannel(${JSON.stringify(TEST_SIGN_IN_CHANNEL)});
    channel.postMessage(JSON.parse(data.textContent));
    channel.close();
  }
  document.getElementById('close')?.addEventListener('click', () => window.close());
})();
`;

const STYLE = `:root { color-scheme: light dark; --bg: #f6f7f9; --fg: #1b1f24; --muted: #4b5563;
  --card: #ffffff; --border: #d0d5dd; --accent: #1d4ed8; --accent-fg: #ffffff; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1115; --fg: #e7e9ee; --muted: #a8b0bd;
  --card: #181b21; --border: #2e333d; --accent: #8ab4ff; --accent-fg: #0b1220; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 1rem; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.card { max-width: 40rem; margin: 0 auto; padding: 1.25rem; background: var(--card);
  border: 1px solid var(--border); border-radius: 12px; }
h1 { font-size: 1.35rem; margin: 0.25rem 0 0.75rem; }
h2 { font-size: 1rem; margin: 1rem 0 0.25rem; }
.badge { display: inline-block; margin: 0; padding: 0.1rem 0.6rem; border-radius: 999px;
  border: 1px solid var(--border); color: var(--muted); font-size: 0.85rem; }
code, dd { overflow-wrap: anywhere; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
dl { display: grid; grid-template-columns: minmax(6rem, max-content) 1fr; gap: 0.25rem 1rem; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; }
.note { color: var(--muted); }
button { font: inherit; padding: 0.5rem 1rem; border-radius: 8px; border: 0; cursor: pointer;
  background: var(--accent); color: var(--accent-fg); min-height: 44px; }
button:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
`;

/** `GET /bff/test-sign-in.js` and `.css`: static, public, no session read. */
export const testSignInScript: RequestHandler = (_req, res) => {
  res.type('text/javascript').send(SCRIPT);
};
export const testSignInStyle: RequestHandler = (_req, res) => {
  res.type('text/css').send(STYLE);
};
