/**
 * The one provider model: the zod schema of an identity provider's settings, from which the
 * config file's providers (`config/schema.ts`), the admin API's create and patch bodies
 * (`admin/schemas.ts`), the stored record (`model.ts`) and the `ProviderSettings` / `Provider`
 * types are all derived. A field is added here, once.
 *
 * A leaf: it imports nothing but zod (each profile's preset values live here too, and
 * `provider-profiles.ts` adds the console's words), so that `config/` (the bottom of the core)
 * may embed it (eslint.config.js `UPWARD_LEAVES`).
 *
 * Over 300 lines on purpose: the one model is its fields, their refinements and the input,
 * patch and stored shapes derived from them; split, a field would again be added in several
 * places.
 */
import { z } from 'zod';

/**
 * How Gatehouse authenticates at the token endpoint. A BFF is a confidential client: `none`
 * (a public client) is not one of them.
 */
export const TOKEN_ENDPOINT_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];

/** The methods that send the client secret (the others need none, and must not carry one). */
export const SECRET_AUTH_METHODS: ReadonlySet<TokenEndpointAuthMethod> = new Set([
  'client_secret_basic',
  'client_secret_post',
]);

/** ID token signing algorithms a provider may be pinned to: asymmetric only (never HMAC, never none). */
export const ID_TOKEN_SIGNING_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type IdTokenSigningAlgorithm = (typeof ID_TOKEN_SIGNING_ALGORITHMS)[number];

/**
 * `required`: the OP must list S256 in `code_challenge_methods_supported`; `assume-supported`:
 * PKCE S256 is sent anyway when discovery leaves the list out (Entra ID, Cognito), but an OP
 * listing methods without S256 is still refused.
 */
export const PKCE_MODES = ['required', 'assume-supported'] as const;
export type PkceMode = (typeof PKCE_MODES)[number];
/** Pushed authorization requests (RFC 9126): `auto` uses them when the OP advertises them. */
export const PAR_MODES = ['auto', 'required', 'off'] as const;
/**
 * RP-initiated logout: `end-session` (the OP's `end_session_endpoint`), `cognito` (Amazon
 * Cognito's `/logout` with `client_id` + `logout_uri`) or `none` (only the local session ends).
 */
export const LOGOUT_MODES = ['end-session', 'cognito', 'none'] as const;
/** Profiles: presets of the fields above for well-known IdPs (`provider-profiles.ts`). */
export const PROVIDER_PROFILE_IDS = [
  'generic',
  'entra',
  'google',
  'okta',
  'auth0',
  'keycloak',
  'cognito',
  'strict-modern',
] as const;
export type ProviderProfileId = (typeof PROVIDER_PROFILE_IDS)[number];

/** Authorization request parameters Gatehouse sets itself: a provider may not override them. */
export const RESERVED_AUTHORIZATION_PARAMETERS: ReadonlySet<string> = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'response_mode',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'request',
  'request_uri',
  'dpop_jkt',
]);

/** End-session (and Cognito `/logout`) parameters Gatehouse sets itself. */
export const RESERVED_END_SESSION_PARAMETERS: ReadonlySet<string> = new Set([
  'id_token_hint',
  'logout_hint',
  'client_id',
  'post_logout_redirect_uri',
  'logout_uri',
  'redirect_uri',
  'state',
]);

const unique = (values: readonly string[]) => new Set(values).size === values.length;

const oneOf = (values: readonly string[]) => values.map((value) => `"${value}"`).join(', ');

/** `<slug>` ids: lower-case letters, digits and inner dashes, at most 64 characters. */
export const providerId = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'must be a lowercase slug (a-z, 0-9, -)');

// `abort`: later refinements would call `new URL` on something unparsable.
const issuer = z
  .string()
  .max(2000)
  .refine((value) => URL.canParse(value), { message: 'must be an absolute URL', abort: true })
  .refine((value) => {
    const url = new URL(value);
    return !url.username && !url.password && !url.search && !url.hash && !value.includes('#');
  }, 'must not contain credentials, a query or a fragment')
  .meta({
    format: 'uri',
    description: 'https issuer URL, exactly as its discovery document names it',
  });

export const clientSecretValue = z
  .string()
  .min(1)
  .max(1000)
  .meta({ writeOnly: true, description: 'write-only: never returned (see hasClientSecret)' });

const tokenEndpointAuthMethod = z
  .enum(TOKEN_ENDPOINT_AUTH_METHODS, {
    error: (issue) =>
      issue.input === 'none'
        ? 'a BFF is a confidential client: use client_secret_basic, client_secret_post or private_key_jwt'
        : `must be one of ${oneOf(TOKEN_ENDPOINT_AUTH_METHODS)}`,
  })
  .meta({ description: 'How Gatehouse authenticates at the token endpoint' });

const idTokenSignedResponseAlg = z
  .enum(ID_TOKEN_SIGNING_ALGORITHMS, {
    error: (issue) => {
      const input = typeof issue.input === 'string' ? issue.input : '';
      if (input.toLowerCase() === 'none') return 'unsigned ID tokens ("none") are never accepted';
      if (/^HS\d+$/i.test(input)) {
        return 'HMAC algorithms are refused: ID tokens must be signed with an asymmetric key';
      }
      return `must be one of ${oneOf(ID_TOKEN_SIGNING_ALGORITHMS)}`;
    },
  })
  .meta({
    description:
      "The ID token signing algorithm; absent: chosen from the OP's id_token_signing_alg_values_supported (RS256 when listed)",
  });

const scope = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/, 'must be a scope token');

const scopes = z
  .array(scope)
  .min(1)
  .max(50)
  .refine((list) => list.includes('openid'), 'must include "openid"')
  .refine(unique, 'must not repeat a scope');

const PARAMETER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Extra request parameters: names checked, Gatehouse's own refused, values length-limited. The
 * names are checked here rather than by a key schema so that each message reaches the caller
 * with the parameter's path (zod reports a failed record key only as "Invalid key in record").
 */
function extraParameters(reserved: ReadonlySet<string>, description: string) {
  return z
    .record(z.string(), z.string().max(500))
    .superRefine((params, ctx) => {
      const names = Object.keys(params);
      if (names.length > 20) ctx.addIssue({ code: 'custom', message: 'at most 20 parameters' });
      for (const name of names.slice(0, 50)) {
        if (!PARAMETER_NAME.test(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'must be a parameter name' });
        } else if (reserved.has(name)) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'is set by Gatehouse itself' });
        }
      }
    })
    .meta({ description });
}

/** Each editable setting of a provider, with no default: the defaults are applied below. */
export const providerSettingFields = {
  displayName: z.string().trim().min(1).max(100),
  issuer,
  clientId: z.string().min(1).max(500),
  tokenEndpointAuthMethod,
  idTokenSignedResponseAlg,
  pkce: z.enum(PKCE_MODES, { error: () => `must be one of ${oneOf(PKCE_MODES)}` }),
  par: z.enum(PAR_MODES, { error: () => `must be one of ${oneOf(PAR_MODES)}` }),
  dpop: z.boolean().meta({ description: 'DPoP-bound tokens (RFC 9449)' }),
  logout: z.enum(LOGOUT_MODES, { error: () => `must be one of ${oneOf(LOGOUT_MODES)}` }),
  scopes,
  authorizationParams: extraParameters(
    RESERVED_AUTHORIZATION_PARAMETERS,
    'Extra authorization request parameters (e.g. prompt, audience); protocol ones are set by Gatehouse',
  ),
  endSessionParams: extraParameters(
    RESERVED_END_SESSION_PARAMETERS,
    'Extra end-session (logout) request parameters; protocol ones are set by Gatehouse',
  ),
  profile: z.enum(PROVIDER_PROFILE_IDS, {
    error: () => `must be one of ${oneOf(PROVIDER_PROFILE_IDS)}`,
  }),
  enabled: z.boolean(),
};

type Fields = typeof providerSettingFields;

/** The settings of a provider once defaults are applied (only `idTokenSignedResponseAlg` may be absent). */
export type ProviderSettings = {
  [K in Exclude<keyof Fields, 'idTokenSignedResponseAlg'>]: z.output<Fields[K]>;
} & { idTokenSignedResponseAlg?: IdTokenSigningAlgorithm | undefined };

/** Fields with a default: what a provider that sets nothing gets. */
export type DefaultedSetting = Exclude<
  keyof ProviderSettings,
  'displayName' | 'issuer' | 'clientId' | 'idTokenSignedResponseAlg'
>;

export const DEFAULT_SCOPES: readonly string[] = Object.freeze([
  'openid',
  'profile',
  'email',
  'offline_access',
]);

/** The generic defaults (a profile may change some of them, see `provider-profiles.ts`). */
export const PROVIDER_DEFAULTS: Readonly<Pick<ProviderSettings, DefaultedSetting>> = Object.freeze({
  tokenEndpointAuthMethod: 'client_secret_basic',
  pkce: 'required',
  par: 'auto',
  dpop: false,
  logout: 'end-session',
  scopes: [...DEFAULT_SCOPES],
  authorizationParams: {},
  endSessionParams: {},
  profile: 'generic',
  enabled: true,
});

/** The fields a profile may preset: everything but the provider's own identity. */
export type ProfileDefaults = Partial<
  Omit<ProviderSettings, 'displayName' | 'issuer' | 'clientId' | 'enabled' | 'profile'>
>;

const WITHOUT_OFFLINE_ACCESS = ['openid', 'profile', 'email'];

/**
 * What each profile presets (why, and what the console says about it: `provider-profiles.ts`).
 * Part of the model, since applying them is: a provider naming a profile gets these values for
 * every field it leaves out.
 */
export const PROFILE_DEFAULTS: Readonly<Record<ProviderProfileId, ProfileDefaults>> = {
  generic: {},
  // Entra ID enforces PKCE but leaves code_challenge_methods_supported out of its discovery.
  entra: { pkce: 'assume-supported' },
  // Google refuses offline_access; a refresh token needs access_type=offline and prompt=consent.
  google: {
    scopes: WITHOUT_OFFLINE_ACCESS,
    authorizationParams: { access_type: 'offline', prompt: 'consent' },
    logout: 'none',
  },
  okta: { logout: 'end-session' },
  auth0: {},
  keycloak: {},
  // Cognito: PKCE unannounced, /logout with client_id + logout_uri, no offline_access scope.
  cognito: { pkce: 'assume-supported', logout: 'cognito', scopes: WITHOUT_OFFLINE_ACCESS },
  'strict-modern': { par: 'required', tokenEndpointAuthMethod: 'private_key_jwt', dpop: true },
};

/** The defaults of one profile (copied: callers may keep or change what they get). */
export function profileDefaults(id: ProviderProfileId): ProfileDefaults {
  return structuredClone(PROFILE_DEFAULTS[id]);
}

/** Every setting optional: what a caller may leave out (create) or change (patch). */
const optionalSettings = {
  displayName: providerSettingFields.displayName.optional(),
  tokenEndpointAuthMethod: providerSettingFields.tokenEndpointAuthMethod.optional(),
  idTokenSignedResponseAlg: providerSettingFields.idTokenSignedResponseAlg.optional(),
  pkce: providerSettingFields.pkce.optional(),
  par: providerSettingFields.par.optional(),
  dpop: providerSettingFields.dpop.optional(),
  logout: providerSettingFields.logout.optional(),
  scopes: providerSettingFields.scopes.optional(),
  authorizationParams: providerSettingFields.authorizationParams.optional(),
  endSessionParams: providerSettingFields.endSessionParams.optional(),
  profile: providerSettingFields.profile.optional(),
  enabled: providerSettingFields.enabled.optional(),
};

/**
 * Fills in every field left out: the named profile's defaults first (`provider-profiles.ts`),
 * then the generic ones.
 */
export function withProviderDefaults<T extends Partial<ProviderSettings>>(
  input: T,
): T & Pick<ProviderSettings, DefaultedSetting> {
  const defined = Object.fromEntries(
    Object.entries(input).filter(([, value]) => value !== undefined),
  ) as T;
  return {
    ...PROVIDER_DEFAULTS,
    scopes: [...PROVIDER_DEFAULTS.scopes],
    authorizationParams: { ...PROVIDER_DEFAULTS.authorizationParams },
    endSessionParams: { ...PROVIDER_DEFAULTS.endSessionParams },
    ...profileDefaults(input.profile ?? PROVIDER_DEFAULTS.profile),
    ...defined,
  };
}

/**
 * A new provider: its id, issuer and client id, an optional secret, every other setting optional
 * (defaults applied). The config file and the admin API's create body both use it.
 */
export const providerInputSchema = z
  .strictObject({
    id: providerId,
    issuer: providerSettingFields.issuer,
    clientId: providerSettingFields.clientId,
    clientSecret: clientSecretValue.optional(),
    ...optionalSettings,
  })
  // A profile's defaults for the fields left out, then the generic ones.
  .transform((input) => withProviderDefaults(input));

/** A change to a provider: every setting optional; `clientSecret` a string, `null` (remove) or absent. */
export const providerPatchSchema = z.strictObject({
  issuer: providerSettingFields.issuer.optional(),
  clientId: providerSettingFields.clientId.optional(),
  clientSecret: clientSecretValue
    .nullable()
    .optional()
    .meta({ description: 'A string replaces the secret, null removes it, absent keeps it' }),
  ...optionalSettings,
  idTokenSignedResponseAlg: providerSettingFields.idTokenSignedResponseAlg
    .nullable()
    .optional()
    .meta({
      description: 'An algorithm pins it, null lets discovery choose again, absent keeps it',
    }),
});

/** The stored settings: every defaulted field defaulted again, so records of older versions load. */
export const storedProviderSettingsShape = {
  displayName: z.string(),
  issuer: z.string(),
  clientId: z.string(),
  tokenEndpointAuthMethod: providerSettingFields.tokenEndpointAuthMethod,
  idTokenSignedResponseAlg: providerSettingFields.idTokenSignedResponseAlg.optional(),
  pkce: providerSettingFields.pkce.default(PROVIDER_DEFAULTS.pkce),
  par: providerSettingFields.par.default(PROVIDER_DEFAULTS.par),
  dpop: providerSettingFields.dpop.default(PROVIDER_DEFAULTS.dpop),
  logout: providerSettingFields.logout.default(PROVIDER_DEFAULTS.logout),
  scopes: z.array(z.string()),
  authorizationParams: z.record(z.string(), z.string()),
  endSessionParams: z.record(z.string(), z.string()).default({}),
  profile: providerSettingFields.profile.default(PROVIDER_DEFAULTS.profile),
  enabled: z.boolean(),
};

/** The settings as answered by the admin API (every field present but the optional alg). */
export const providerSettingsOutShape = {
  displayName: z.string(),
  issuer: z.string(),
  clientId: z.string(),
  tokenEndpointAuthMethod: z.enum(TOKEN_ENDPOINT_AUTH_METHODS),
  idTokenSignedResponseAlg: z.enum(ID_TOKEN_SIGNING_ALGORITHMS).optional(),
  pkce: z.enum(PKCE_MODES),
  par: z.enum(PAR_MODES),
  dpop: z.boolean(),
  logout: z.enum(LOGOUT_MODES),
  scopes: z.array(z.string()),
  authorizationParams: z.record(z.string(), z.string()),
  endSessionParams: z.record(z.string(), z.string()),
  profile: z.enum(PROVIDER_PROFILE_IDS),
  enabled: z.boolean(),
};

/** The settings part of anything provider-shaped: an explicit allow-list, copied. */
export function providerSettingsOf(settings: ProviderSettings): ProviderSettings {
  return {
    displayName: settings.displayName,
    issuer: settings.issuer,
    clientId: settings.clientId,
    tokenEndpointAuthMethod: settings.tokenEndpointAuthMethod,
    ...(settings.idTokenSignedResponseAlg === undefined
      ? {}
      : { idTokenSignedResponseAlg: settings.idTokenSignedResponseAlg }),
    pkce: settings.pkce,
    par: settings.par,
    dpop: settings.dpop,
    logout: settings.logout,
    scopes: [...settings.scopes],
    authorizationParams: { ...settings.authorizationParams },
    endSessionParams: { ...settings.endSessionParams },
    profile: settings.profile,
    enabled: settings.enabled,
  };
}
