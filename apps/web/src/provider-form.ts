import { GatehouseProblem } from '@gatehouse/client';
import type {
  ProviderInput,
  ProviderPatch,
  TenantProvider,
  TokenEndpointAuthMethod,
} from '@gatehouse/client';

/** What the provider form edits, as the text the inputs hold. */
export interface ProviderFormValues {
  id: string;
  displayName: string;
  issuer: string;
  clientId: string;
  /** Typed by the admin only; never filled from the server, which never returns it. */
  clientSecret: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Space separated. */
  scopes: string;
  /** One `key=value` per line. */
  extraParams: string;
  enabled: boolean;
}

export type ProviderField = keyof ProviderFormValues;

/** Error messages by form field. */
export type FieldErrors = Partial<Record<ProviderField, string>>;

/** What the form offers: every method Gatehouse supports. */
export const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
];

export const DEFAULT_SCOPES = 'openid profile email offline_access';

/** Where an API field's errors are shown: the API's `authorizationParams` is "Extra parameters". */
// A Map, not an object: a path such as `constructor` from the server must not find anything.
const FIELD_FOR_API_PATH: ReadonlyMap<string, ProviderField> = new Map<string, ProviderField>([
  ['id', 'id'],
  ['displayName', 'displayName'],
  ['issuer', 'issuer'],
  ['clientId', 'clientId'],
  ['clientSecret', 'clientSecret'],
  ['tokenEndpointAuthMethod', 'tokenEndpointAuthMethod'],
  ['scopes', 'scopes'],
  ['authorizationParams', 'extraParams'],
  ['enabled', 'enabled'],
]);

/** Fields shown in this order; the first invalid one gets the focus. */
export const FIELD_ORDER: readonly ProviderField[] = [
  'id',
  'displayName',
  'issuer',
  'clientId',
  'clientSecret',
  'tokenEndpointAuthMethod',
  'scopes',
  'extraParams',
  'enabled',
];

export function emptyProviderForm(): ProviderFormValues {
  return {
    id: '',
    displayName: '',
    issuer: '',
    clientId: '',
    clientSecret: '',
    tokenEndpointAuthMethod: 'client_secret_basic',
    scopes: DEFAULT_SCOPES,
    extraParams: '',
    enabled: true,
  };
}

/** The form for editing `provider`; the secret stays empty ("unchanged"). */
export function providerFormFrom(provider: TenantProvider): ProviderFormValues {
  return {
    id: provider.id,
    displayName: provider.displayName,
    issuer: provider.issuer,
    clientId: provider.clientId,
    clientSecret: '',
    tokenEndpointAuthMethod: asAuthMethod(provider.tokenEndpointAuthMethod),
    scopes: provider.scopes.join(' '),
    extraParams: Object.entries(provider.authorizationParams)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n'),
    enabled: provider.enabled,
  };
}

function asAuthMethod(value: string): TokenEndpointAuthMethod {
  return AUTH_METHODS.find((method) => method === value) ?? 'client_secret_basic';
}

/** Parses "Extra parameters": one `key=value` per line, blank lines ignored, keys unique. */
export function parseExtraParams(
  text: string,
): { params: Record<string, string> } | { error: string } {
  const entries: Array<[string, string]> = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    const separator = line.indexOf('=');
    const key = separator === -1 ? '' : line.slice(0, separator).trim();
    if (key === '') return { error: `Line ${index + 1} is not key=value.` };
    if (entries.some(([seen]) => seen === key)) {
      return { error: `Line ${index + 1} repeats the parameter "${key}".` };
    }
    entries.push([key, line.slice(separator + 1).trim()]);
  }
  // fromEntries defines own properties: a `__proto__` key stays a plain parameter.
  return { params: Object.fromEntries(entries) };
}

export function parseScopes(text: string): string[] {
  return text.split(/\s+/).filter((scope) => scope !== '');
}

/** What the browser can tell before asking the server: required fields and the parameter lines. */
export function validateProviderForm(values: ProviderFormValues, creating: boolean): FieldErrors {
  const errors: FieldErrors = {};
  const required: ProviderField[] = ['displayName', 'issuer', 'clientId'];
  if (creating) required.unshift('id');
  for (const field of required) {
    const value = values[field];
    if (typeof value === 'string' && value.trim() === '') errors[field] = 'Required.';
  }
  const extra = parseExtraParams(values.extraParams);
  if ('error' in extra) errors.extraParams = extra.error;
  return errors;
}

/** The create request; the secret only when one was typed. */
export function toProviderInput(values: ProviderFormValues): ProviderInput {
  return { id: values.id.trim(), ...providerFields(values) };
}

/**
 * The update request: every field but the id. An empty secret field keeps the stored secret,
 * except for a method that uses none (private_key_jwt): there it removes it.
 */
export function toProviderPatch(values: ProviderFormValues): ProviderPatch {
  const fields = providerFields(values);
  if (values.clientSecret !== '' || usesClientSecret(values.tokenEndpointAuthMethod)) return fields;
  return { ...fields, clientSecret: null };
}

export function usesClientSecret(method: TokenEndpointAuthMethod): boolean {
  return method === 'client_secret_basic' || method === 'client_secret_post';
}

function providerFields(values: ProviderFormValues): Omit<ProviderInput, 'id'> {
  const extra = parseExtraParams(values.extraParams);
  return {
    displayName: values.displayName.trim(),
    issuer: values.issuer.trim(),
    clientId: values.clientId.trim(),
    ...(values.clientSecret === '' ? {} : { clientSecret: values.clientSecret }),
    tokenEndpointAuthMethod: values.tokenEndpointAuthMethod,
    scopes: parseScopes(values.scopes),
    authorizationParams: 'params' in extra ? extra.params : {},
    enabled: values.enabled,
  };
}

/** How a failed save is shown: messages next to fields, and/or one alert for the form. */
export interface SaveFailure {
  fields: FieldErrors;
  alert: string | undefined;
}

/**
 * Splits a failed save into field messages (from `validation_failed`'s `errors[].path`) and an
 * alert: the failed check of `provider_check_failed`, field errors of unknown fields, anything else.
 */
export function describeSaveFailure(error: unknown): SaveFailure {
  if (!(error instanceof GatehouseProblem)) {
    return { fields: {}, alert: error instanceof Error ? error.message : 'Saving failed.' };
  }
  if (error.code === 'provider_check_failed') return { fields: {}, alert: checkFailure(error) };
  const fields: FieldErrors = {};
  const unplaced: string[] = [];
  for (const { path, message } of error.errors) {
    const field = FIELD_FOR_API_PATH.get(path.split('.')[0] ?? '');
    if (field === undefined) unplaced.push(path === '' ? message : `${path}: ${message}`);
    else fields[field] ??= message;
  }
  if (error.errors.length > 0) {
    return { fields, alert: unplaced.length > 0 ? unplaced.join(' ') : undefined };
  }
  const status = error.status === 0 ? '' : `${error.status} `;
  const detail = error.detail === undefined ? '' : `: ${error.detail}`;
  return { fields, alert: `Saving failed: ${status}${error.title}${detail} (${error.code})` };
}

/** "The provider check failed: <detail> (check: <name>)". */
export function checkFailure(problem: GatehouseProblem): string {
  const check = problem.check === undefined ? '' : ` (check: ${problem.check})`;
  return `The provider check failed: ${problem.detail ?? problem.title}${check}`;
}

export function firstInvalidField(errors: FieldErrors): ProviderField | undefined {
  return FIELD_ORDER.find((field) => errors[field] !== undefined);
}
