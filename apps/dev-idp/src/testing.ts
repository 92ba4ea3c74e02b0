/** A fetch that keeps cookies between calls and does not follow redirects. */
export type FetchWithCookies = (url: string, init?: RequestInit) => Promise<Response>;

const MAX_STEPS = 20;

function decodeHtmlAttribute(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The single form of a dev IdP login or consent page: its absolute action and what to post. */
function nextFormSubmission(
  html: string,
  pageUrl: string,
  credentials: { login: string; password: string },
) {
  const action = /<form\b[^>]*\baction="([^"]*)"/i.exec(html)?.[1];
  if (action === undefined) return undefined;
  const body = new URLSearchParams();
  if (/\bname="password"/.test(html)) {
    body.set('login', credentials.login);
    body.set('password', credentials.password);
  }
  return { url: new URL(decodeHtmlAttribute(action), pageUrl).href, body };
}

function pageError(html: string): string {
  const alert = /<p class="error"[^>]*>([^<]*)<\/p>/.exec(html)?.[1];
  return alert ? decodeHtmlAttribute(alert) : 'unexpected page';
}

/**
 * Drives the dev IdP's login and consent pages over plain HTTP, starting at an authorization URL.
 * Follows redirects until one leaves the IdP origin and returns that URL (e.g. the RP callback
 * with code, state and iss). Throws if the IdP answers with anything else, e.g. a bad password.
 */
export async function completeDevIdpLogin(
  fetchWithCookies: FetchWithCookies,
  authorizationUrl: string,
  credentials: { login: string; password: string },
): Promise<string> {
  const idpOrigin = new URL(authorizationUrl).origin;
  let url = authorizationUrl;
  let init: RequestInit = { method: 'GET', redirect: 'manual' };
  for (let step = 0; step < MAX_STEPS; step += 1) {
    const res = await fetchWithCookies(url, init);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      url = new URL(location, url).href;
      if (new URL(url).origin !== idpOrigin) return url;
      init = { method: 'GET', redirect: 'manual' };
      continue;
    }
    const html = await res.text();
    const form = res.status === 200 ? nextFormSubmission(html, url, credentials) : undefined;
    if (!form) throw new Error(`dev IdP login failed (HTTP ${res.status}): ${pageError(html)}`);
    url = form.url;
    init = { method: 'POST', redirect: 'manual', body: form.body };
  }
  throw new Error(`dev IdP login did not finish within ${MAX_STEPS} steps`);
}
