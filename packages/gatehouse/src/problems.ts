/**
 * The catalogue of every problem Gatehouse answers with: its stable `code`, HTTP status, the
 * problem document's `title`, the default sentence a user may see, whether that sentence (or a
 * more precise one given when the problem is raised) may be shown, and `Retry-After` where a
 * retry makes sense. A code that is not here does not compile ({@link ProblemCode}); the README's
 * error table is tested against this object. Pure data: no imports, so anything may read it.
 *
 * Over 300 lines on purpose: a catalogue is read as one list (every code, its status and its
 * sentence side by side); split by area, a code's neighbours and duplicates would hide.
 */

/** One entry of the catalogue. */
export interface ProblemDefinition {
  readonly status: number;
  /** The problem document's `title`: the status's reason phrase, as clients have always seen. */
  readonly title: string;
  /** The default `detail`, in a sentence a user may read. */
  readonly message: string;
  /** Whether the detail (and extra members such as `errors`) may be sent to the client. */
  readonly expose: boolean;
  /** Sent as `Retry-After` (seconds) when a retry is likely to succeed soon. */
  readonly retryAfterSeconds?: number;
}

/**
 * Every problem code. Grouped by where it arises; each code has one meaning and one status.
 *
 * @example
 * ```ts
 * PROBLEMS.store_unavailable.status; // 503
 * PROBLEMS.store_unavailable.retryAfterSeconds; // 5
 * ```
 */
export const PROBLEMS = {
  // ---- request shape (any route) ----
  not_found: { status: 404, title: 'Not Found', message: 'Not found.', expose: true },
  method_not_allowed: {
    status: 405,
    title: 'Method Not Allowed',
    message: 'This method is not allowed here.',
    expose: true,
  },
  invalid_parameter: {
    status: 400,
    title: 'Bad Request',
    message: 'A query parameter must appear once.',
    expose: true,
  },
  unsupported_media_type: {
    status: 415,
    title: 'Unsupported Media Type',
    message: 'Send JSON (application/json).',
    expose: true,
  },
  validation_failed: {
    status: 422,
    title: 'Unprocessable Content',
    message: 'The request body is not valid.',
    expose: true,
  },
  // Body parsing (body-parser's error types, with `.` replaced by `_`).
  entity_parse_failed: {
    status: 400,
    title: 'Bad Request',
    message: 'The request body could not be parsed.',
    expose: true,
  },
  entity_too_large: {
    status: 413,
    title: 'Payload Too Large',
    message: 'The request body is too large.',
    expose: true,
  },
  parameters_too_many: {
    status: 413,
    title: 'Payload Too Large',
    message: 'The request body has too many parameters.',
    expose: true,
  },
  encoding_unsupported: {
    status: 415,
    title: 'Unsupported Media Type',
    message: 'The request body’s content encoding is not supported.',
    expose: true,
  },
  charset_unsupported: {
    status: 415,
    title: 'Unsupported Media Type',
    message: 'The request body’s character set is not supported.',
    expose: true,
  },
  request_aborted: {
    status: 400,
    title: 'Bad Request',
    message: 'The request body was not received completely.',
    expose: true,
  },
  request_size_invalid: {
    status: 400,
    title: 'Bad Request',
    message: 'The request body’s length does not match its Content-Length.',
    expose: true,
  },
  bad_request: { status: 400, title: 'Bad Request', message: 'Bad request.', expose: true },

  // ---- browser protection ----
  csrf_header_required: {
    status: 403,
    title: 'Forbidden',
    message: 'The X-CSRF: 1 header is required.',
    expose: true,
  },
  foreign_origin: {
    status: 403,
    title: 'Forbidden',
    message: 'Cross-origin requests are not allowed.',
    expose: true,
  },
  logout_sid_mismatch: {
    status: 403,
    title: 'Forbidden',
    message: 'This sign-out link is not for your current session.',
    expose: true,
  },
  invalid_return_to: {
    status: 400,
    title: 'Bad Request',
    message: 'returnTo must be a path on this site.',
    expose: true,
  },

  // ---- sign-in ----
  tenant_required: {
    status: 400,
    title: 'Bad Request',
    message: 'Choose an organisation to sign in with.',
    expose: true,
  },
  unknown_tenant: {
    status: 404,
    title: 'Not Found',
    message: 'Unknown organisation.',
    expose: true,
  },
  unknown_provider: {
    status: 404,
    title: 'Not Found',
    message: 'Unknown or disabled identity provider.',
    expose: true,
  },
  unknown_email_domain: {
    status: 400,
    title: 'Bad Request',
    message: 'No organisation signs in with this email address.',
    expose: true,
  },
  invalid_callback: {
    status: 400,
    title: 'Bad Request',
    message: 'The sign-in response is malformed.',
    expose: true,
  },
  login_transaction_invalid: {
    status: 400,
    title: 'Bad Request',
    message: 'This sign-in attempt is unknown or was already used.',
    expose: true,
  },
  login_expired: {
    status: 400,
    title: 'Bad Request',
    message: 'This sign-in took longer than ten minutes, so it was stopped.',
    expose: true,
  },
  login_failed: {
    status: 400,
    title: 'Bad Request',
    message: 'The sign-in response could not be verified.',
    expose: true,
  },
  par_unavailable: {
    status: 502,
    title: 'Bad Gateway',
    message:
      'The identity provider offers no pushed authorization requests (PAR), which this provider requires.',
    expose: true,
  },
  idp_unavailable: {
    status: 502,
    title: 'Bad Gateway',
    message: 'The identity provider is unavailable; try again.',
    expose: true,
  },
  idp_client_rejected: {
    status: 502,
    title: 'Bad Gateway',
    message:
      'The IdP refused Gatehouse’s client credentials; an administrator must fix the provider.',
    expose: true,
  },
  invalid_logout_token: {
    status: 400,
    title: 'Bad Request',
    message: 'A single logout_token is required.',
    expose: true,
  },

  // ---- sessions ----
  unauthenticated: {
    status: 401,
    title: 'Unauthorized',
    message: 'Sign-in required.',
    expose: true,
  },
  session_expired: {
    status: 401,
    title: 'Unauthorized',
    message: 'The session has ended; sign in again.',
    expose: true,
  },
  current_session: {
    status: 400,
    title: 'Bad Request',
    message: 'Use sign-out to end the current session.',
    expose: true,
  },
  refresh_busy: {
    status: 503,
    title: 'Service Unavailable',
    message: 'The session is being refreshed; try again.',
    expose: true,
    retryAfterSeconds: 1,
  },
  store_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    message: 'Session storage is unavailable; try again.',
    expose: true,
    retryAfterSeconds: 5,
  },
  // This instance's encryption key under the kid the session was sealed with is not the one
  // the other instances use (the key check, README "Key rotation"): the session is kept.
  encryption_key_mismatch: {
    status: 503,
    title: 'Service Unavailable',
    message: 'This server cannot read your session right now; try again.',
    expose: true,
    retryAfterSeconds: 5,
  },

  // ---- API proxy ----
  invalid_path: {
    status: 400,
    title: 'Bad Request',
    message: 'The request path is not allowed.',
    expose: true,
  },
  tenant_not_allowed: {
    status: 403,
    title: 'Forbidden',
    message: 'This API is not available to your organisation.',
    expose: true,
  },
  dpop_not_accepted: {
    status: 403,
    title: 'Forbidden',
    message: 'This API does not accept the DPoP-bound tokens of your sign-in.',
    expose: true,
  },
  resource_not_granted: {
    status: 502,
    title: 'Bad Gateway',
    message: 'The identity provider will not issue a token for this API.',
    expose: true,
  },
  upstream_unavailable: {
    status: 502,
    title: 'Bad Gateway',
    message: 'The API is unavailable.',
    expose: true,
  },
  upstream_timeout: {
    status: 504,
    title: 'Gateway Timeout',
    message: 'The API did not answer in time.',
    expose: true,
  },

  // ---- WebSocket routes ----
  bad_websocket_handshake: {
    status: 400,
    title: 'Bad Request',
    message: 'The WebSocket handshake is malformed.',
    expose: true,
  },
  websocket_not_enabled: {
    status: 404,
    title: 'Not Found',
    message: 'This API route does not accept WebSockets.',
    expose: true,
  },
  shutting_down: {
    status: 503,
    title: 'Service Unavailable',
    message: 'This server is shutting down; connect again.',
    expose: true,
    retryAfterSeconds: 1,
  },

  // ---- gateway mode (forward-auth, `/bff/authz`) ----
  gateway_untrusted: {
    status: 403,
    title: 'Forbidden',
    message: 'Only a trusted gateway may ask for authorization.',
    expose: true,
  },
  gateway_request_invalid: {
    status: 400,
    title: 'Bad Request',
    message: 'The gateway must name the original method and URI once each.',
    expose: true,
  },

  // ---- any route with a rate limit ----
  rate_limited: {
    status: 429,
    title: 'Too Many Requests',
    message: 'Too many requests; wait a moment and try again.',
    expose: true,
    retryAfterSeconds: 60,
  },

  // ---- admin API ----
  invalid_token: {
    status: 401,
    title: 'Unauthorized',
    message: 'The bearer token is not valid.',
    expose: true,
  },
  not_admin: {
    status: 403,
    title: 'Forbidden',
    message: 'You are signed in, but not as an administrator of your organisation.',
    expose: true,
  },
  operator_only: {
    status: 403,
    title: 'Forbidden',
    message: 'Only the platform operator may do this.',
    expose: true,
  },
  tenant_forbidden: {
    status: 403,
    title: 'Forbidden',
    message: 'You administer another organisation.',
    expose: true,
  },
  unknown_api_key: {
    status: 404,
    title: 'Not Found',
    message: 'Unknown API key.',
    expose: true,
  },
  unknown_client_key: {
    status: 404,
    title: 'Not Found',
    message: 'This provider publishes no signing key with this id.',
    expose: true,
  },
  client_key_in_use: {
    status: 409,
    title: 'Conflict',
    message: 'This key signs now: rotate first, and retire it once its successor signs.',
    expose: true,
  },
  no_client_keys: {
    status: 404,
    title: 'Not Found',
    message: 'This provider does not authenticate with private_key_jwt.',
    expose: true,
  },
  unknown_sub: {
    status: 404,
    title: 'Not Found',
    message: 'Unknown user: this is not a subject identifier.',
    expose: true,
  },
  unknown_session: {
    status: 404,
    title: 'Not Found',
    message: 'Unknown session: it has ended or never existed.',
    expose: true,
  },
  tenant_exists: {
    status: 409,
    title: 'Conflict',
    message: 'An organisation with this id already exists.',
    expose: true,
  },
  provider_exists: {
    status: 409,
    title: 'Conflict',
    message: 'This organisation already has a provider with this id.',
    expose: true,
  },
  email_domain_taken: {
    status: 409,
    title: 'Conflict',
    message: 'The email domain belongs to another organisation.',
    expose: true,
  },
  host_taken: {
    status: 409,
    title: 'Conflict',
    message: 'The host belongs to another organisation.',
    expose: true,
  },
  read_only: {
    status: 409,
    title: 'Conflict',
    message: 'It comes from the configuration file.',
    expose: true,
  },
  conflict: {
    status: 409,
    title: 'Conflict',
    message: 'It was changed at the same time; read it again and retry.',
    expose: true,
  },
  provider_check_failed: {
    status: 422,
    title: 'Unprocessable Content',
    message: 'The provider failed a check.',
    expose: true,
  },

  // ---- test controls (development mode with testControls only) ----
  test_controls_disabled: {
    status: 404,
    title: 'Not Found',
    message:
      'Test controls are off: start Gatehouse in development mode with GATEHOUSE_TEST_CONTROLS=1.',
    expose: true,
  },
  test_control_not_applicable: {
    status: 409,
    title: 'Conflict',
    message: 'This test control does not apply to this session.',
    expose: true,
  },

  // ---- bugs and broken data: never explained to the client ----
  secret_mismatch: {
    status: 500,
    title: 'Internal Server Error',
    message: 'A sealed client secret was moved.',
    expose: false,
  },
  internal_error: {
    status: 500,
    title: 'Internal Server Error',
    message: 'An unexpected error; the cause is in the log only.',
    expose: false,
  },
} as const satisfies Record<string, ProblemDefinition>;

/** Every code Gatehouse may answer with; anything else is a compile error. */
export type ProblemCode = keyof typeof PROBLEMS;

/** The codes in catalogue order. */
export const PROBLEM_CODES = Object.keys(PROBLEMS) as ProblemCode[];

/** Whether a string (e.g. from an answer) is a catalogue code. */
export const isProblemCode = (code: string): code is ProblemCode => Object.hasOwn(PROBLEMS, code);
