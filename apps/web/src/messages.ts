import { GatehouseProblem } from '@gatehouse/client';
import type { ProblemCode } from '@gatehouse/client';

/** What the SPA tells a person about a failure: words first, the code only in "Details". */
export interface Explanation {
  /** One short sentence: what happened. */
  title: string;
  /** What to do next, in a sentence. */
  message: string;
  /** Whether trying the same thing again may work (a "Try again" button is offered). */
  retry: boolean;
  /** The stable code and HTTP status, for the "Details" disclosure; absent for network errors. */
  code?: string;
  status?: number;
}

type Words = Pick<Explanation, 'title' | 'message' | 'retry'>;

const TRY_SOON = 'This is usually brief: try again in a few seconds.';
const RELOAD = 'Reload the page, then try again.';
const ASK_ADMIN = 'If you think you should have access, ask your organisation’s administrator.';

/**
 * Every problem code Gatehouse may answer with, in words. `Record<ProblemCode, …>` makes a new
 * code in the server's catalogue a compile error here until it has its sentence.
 */
export const PROBLEM_WORDS: Record<ProblemCode, Words> = {
  // Request shape: the SPA's own bugs or a stale page.
  not_found: {
    title: 'That is no longer there.',
    message: 'It may have been removed already. Reload to see the current state.',
    retry: false,
  },
  method_not_allowed: { title: 'That action is not possible here.', message: RELOAD, retry: false },
  invalid_parameter: { title: 'The request was malformed.', message: RELOAD, retry: false },
  unsupported_media_type: { title: 'The request was malformed.', message: RELOAD, retry: false },
  validation_failed: {
    title: 'Some values are not valid.',
    message: 'Check the highlighted fields and try again.',
    retry: false,
  },
  entity_parse_failed: { title: 'The request was malformed.', message: RELOAD, retry: false },
  entity_too_large: {
    title: 'That is too large to send.',
    message: 'Make it smaller and try again.',
    retry: false,
  },
  parameters_too_many: {
    title: 'That is too large to send.',
    message: 'Make it smaller and try again.',
    retry: false,
  },
  encoding_unsupported: { title: 'The request was malformed.', message: RELOAD, retry: false },
  charset_unsupported: { title: 'The request was malformed.', message: RELOAD, retry: false },
  request_aborted: {
    title: 'The request did not arrive completely.',
    message: 'Check your connection and try again.',
    retry: true,
  },
  request_size_invalid: {
    title: 'The request did not arrive completely.',
    message: 'Check your connection and try again.',
    retry: true,
  },
  bad_request: { title: 'The request was malformed.', message: RELOAD, retry: false },

  // Browser protection.
  csrf_header_required: {
    title: 'Your browser sent the request in a way we refuse.',
    message: RELOAD,
    retry: false,
  },
  foreign_origin: {
    title: 'The request came from another site, so it was refused.',
    message: 'Open this app directly, then try again.',
    retry: false,
  },
  invalid_return_to: {
    title: 'That link points outside this site.',
    message: 'Sign in from the home page instead.',
    retry: false,
  },

  // Sign-in.
  tenant_required: {
    title: 'Choose your organisation first.',
    message: 'Enter your work email: we find your organisation from it.',
    retry: false,
  },
  unknown_tenant: {
    title: 'We do not know this organisation.',
    message: 'Check the link, or sign in with your work email instead.',
    retry: false,
  },
  unknown_provider: {
    title: 'This sign-in method is not available.',
    message: 'Choose another way to sign in.',
    retry: false,
  },
  unknown_email_domain: {
    title: 'No organisation signs in with this email address.',
    message: 'Check the address for typos, or ask your administrator how to sign in.',
    retry: false,
  },
  invalid_callback: {
    title: 'The sign-in could not be completed.',
    message: 'Start the sign-in again.',
    retry: false,
  },
  login_transaction_invalid: {
    title: 'The sign-in could not be completed.',
    message: 'Start the sign-in again.',
    retry: false,
  },
  login_expired: {
    title: 'The sign-in took too long and expired.',
    message: 'Start again and finish within ten minutes.',
    retry: false,
  },
  login_failed: {
    title: 'You were not signed in.',
    message: 'Start the sign-in again.',
    retry: false,
  },
  idp_unavailable: {
    title: 'Your organisation’s sign-in service is not answering.',
    message: TRY_SOON,
    retry: true,
  },
  idp_client_rejected: {
    title: 'Your organisation’s sign-in service refused this app’s credentials.',
    message: 'Your administrator needs to fix the sign-in settings; trying again will not help.',
    retry: false,
  },
  dpop_not_accepted: {
    title: 'This part of the app cannot use your sign-in.',
    message: 'Your session’s tokens are bound to Gatehouse; ask your administrator about this API.',
    retry: false,
  },
  par_unavailable: {
    title: 'Your organisation’s sign-in service cannot take this sign-in request.',
    message:
      'Your administrator needs to fix the sign-in settings (pushed authorization requests).',
    retry: false,
  },
  unknown_client_key: {
    title: 'That signing key is no longer there.',
    message: 'Reload to see the provider’s current keys.',
    retry: false,
  },
  client_key_in_use: {
    title: 'That key still signs Gatehouse’s requests.',
    message: 'Rotate to a new key first, then retire this one once the new one is active.',
    retry: false,
  },
  no_client_keys: {
    title: 'This provider does not use signing keys.',
    message: 'Keys exist only for providers that use private_key_jwt.',
    retry: false,
  },
  unknown_session: {
    title: 'That session has already ended.',
    message: 'Reload to see the sessions that are still active.',
    retry: false,
  },
  logout_sid_mismatch: {
    title: 'That sign-out link belongs to another session.',
    message: 'Use the Sign out button in the app to sign out.',
    retry: false,
  },
  invalid_logout_token: { title: 'The request was malformed.', message: RELOAD, retry: false },

  // Sessions.
  unauthenticated: {
    title: 'You are signed out.',
    message: 'Sign in again to continue.',
    retry: false,
  },
  session_expired: {
    title: 'Your session has ended.',
    message: 'Sign in again to continue.',
    retry: false,
  },
  current_session: {
    title: 'That is the session you are using now.',
    message: 'Use “Sign out” to end it.',
    retry: false,
  },
  refresh_busy: {
    title: 'Your session is being renewed.',
    message: 'Try again in a second.',
    retry: true,
  },
  store_unavailable: {
    title: 'We cannot reach your session right now.',
    message: `You are still signed in. ${TRY_SOON}`,
    retry: true,
  },
  encryption_key_mismatch: {
    title: 'This server cannot read your session right now.',
    message: `You are still signed in. ${TRY_SOON}`,
    retry: true,
  },

  // API calls.
  invalid_path: {
    title: 'That address is not allowed.',
    message: 'The app asked for a path Gatehouse refuses; this is a bug in the app.',
    retry: false,
  },
  tenant_not_allowed: {
    title: 'This service is not available to your organisation.',
    message: ASK_ADMIN,
    retry: false,
  },
  resource_not_granted: {
    title: 'Your sign-in does not grant access to this service.',
    message: ASK_ADMIN,
    retry: false,
  },
  upstream_unavailable: {
    title: 'The service is unavailable.',
    message: TRY_SOON,
    retry: true,
  },
  upstream_timeout: {
    title: 'The service took too long to answer.',
    message: 'Try again; if it keeps happening, the service may be overloaded.',
    retry: true,
  },
  bad_websocket_handshake: { title: 'The connection was refused.', message: RELOAD, retry: false },
  websocket_not_enabled: {
    title: 'This service does not accept live connections.',
    message: 'This is a bug in the app.',
    retry: false,
  },
  shutting_down: {
    title: 'The server is restarting.',
    message: 'Try again in a moment.',
    retry: true,
  },
  gateway_untrusted: { title: 'The request was refused.', message: RELOAD, retry: false },
  gateway_request_invalid: { title: 'The request was refused.', message: RELOAD, retry: false },
  rate_limited: {
    title: 'Too many requests from your network right now.',
    message: 'Wait a minute, then try again.',
    retry: true,
  },

  // Admin API.
  invalid_token: { title: 'The access key is not valid.', message: ASK_ADMIN, retry: false },
  not_admin: {
    title: 'You are not an administrator of your organisation.',
    message: ASK_ADMIN,
    retry: false,
  },
  operator_only: {
    title: 'Only the platform operator may do this.',
    message: ASK_ADMIN,
    retry: false,
  },
  tenant_forbidden: {
    title: 'You administer another organisation.',
    message: 'Sign in with an account of this organisation.',
    retry: false,
  },
  unknown_api_key: {
    title: 'That API key no longer exists.',
    message: 'Reload to see the current keys.',
    retry: false,
  },
  unknown_sub: {
    title: 'That user is unknown.',
    message: 'Check the identifier and try again.',
    retry: false,
  },
  tenant_exists: {
    title: 'An organisation with this id already exists.',
    message: 'Choose another id.',
    retry: false,
  },
  provider_exists: {
    title: 'A provider with this id already exists.',
    message: 'Choose another id.',
    retry: false,
  },
  email_domain_taken: {
    title: 'Another organisation already uses this email domain.',
    message: 'Remove it there first, or choose another domain.',
    retry: false,
  },
  host_taken: {
    title: 'Another organisation already uses this host.',
    message: 'Choose another host.',
    retry: false,
  },
  read_only: {
    title: 'This comes from the configuration file.',
    message: 'Change it in the configuration, not here.',
    retry: false,
  },
  conflict: {
    title: 'Someone changed this at the same time.',
    message: 'Reload to see their change, then try again.',
    retry: false,
  },
  provider_check_failed: {
    title: 'The provider did not pass its checks.',
    message: 'See the checks below, fix the settings and test again.',
    retry: false,
  },

  // Test controls.
  test_controls_disabled: {
    title: 'Test controls are off.',
    message: 'Start Gatehouse in development mode with GATEHOUSE_TEST_CONTROLS=1.',
    retry: false,
  },
  test_control_not_applicable: {
    title: 'That test control does not apply to this session.',
    message: RELOAD,
    retry: false,
  },

  // Bugs.
  secret_mismatch: {
    title: 'Something went wrong on our side.',
    message: 'It has been logged. Try again in a moment.',
    retry: true,
  },
  internal_error: {
    title: 'Something went wrong on our side.',
    message: 'It has been logged. Try again in a moment.',
    retry: true,
  },
};

const isKnownCode = (code: string): code is ProblemCode => Object.hasOwn(PROBLEM_WORDS, code);

/** Words for a status without a Gatehouse code (another server's answer). */
function byStatus(status: number): Words {
  if (status === 401) return PROBLEM_WORDS.unauthenticated;
  if (status === 403) {
    return { title: 'You do not have access to this.', message: ASK_ADMIN, retry: false };
  }
  if (status === 404) return PROBLEM_WORDS.not_found;
  if (status === 429) return PROBLEM_WORDS.rate_limited;
  if (status === 504) return PROBLEM_WORDS.upstream_timeout;
  if (status >= 500) {
    return { title: 'The service had a problem.', message: TRY_SOON, retry: true };
  }
  return { title: 'The request was refused.', message: RELOAD, retry: false };
}

/**
 * A failure as words for a person: a Gatehouse problem by its code, another answer by its status,
 * a failed fetch as a connection problem.
 */
export function explainProblem(error: unknown): Explanation {
  if (error instanceof GatehouseProblem) {
    if (error.status === 0 || error.code === 'network_error') return offline();
    const words = isKnownCode(error.code) ? PROBLEM_WORDS[error.code] : byStatus(error.status);
    return { ...words, code: error.code, status: error.status };
  }
  if (error instanceof TypeError) return offline();
  return { title: 'Something went wrong.', message: 'Try again in a moment.', retry: true };
}

/** An HTTP answer that is not 2xx (`apiFetch` does not throw for those), as words. */
export function explainResponse(status: number, code: string | undefined): Explanation {
  const words = code !== undefined && isKnownCode(code) ? PROBLEM_WORDS[code] : byStatus(status);
  return { ...words, status, ...(code !== undefined ? { code } : {}) };
}

function offline(): Explanation {
  return {
    title: 'We could not reach the server.',
    message: 'Check your connection, then try again.',
    retry: true,
  };
}

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/**
 * "2 minutes ago", "yesterday", "just now" (Intl.RelativeTimeFormat, the browser's language);
 * the raw text when it is not a date.
 */
export function relativeTime(iso: string, now: number = Date.now(), locale?: string): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((then - now) / 1000);
  if (Math.abs(seconds) < 45) return 'just now';
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(seconds < 0 ? -1 : 1, 'minute');
}
