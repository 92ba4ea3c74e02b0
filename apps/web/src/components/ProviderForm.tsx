import type {
  GatehouseClient,
  ProviderCheck,
  ProviderCheckReport,
  ProviderProfile,
  ProviderUris,
  ProviderView,
  TenantProvider,
} from '@gatehouse/client';
import { GatehouseProblem } from '@gatehouse/client';
import { useEffect, useRef, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { describeProblem } from '../format.ts';
import {
  AUTH_METHOD_LABELS,
  OFFERED_AUTH_METHODS,
  describeSaveFailure,
  emptyProviderForm,
  fieldForApiPath,
  firstInvalidField,
  isProviderId,
  providerFormFrom,
  toProviderInput,
  toProviderPatch,
  validateProviderForm,
  withProfileDefaults,
} from '../provider-form.ts';
import type { FieldErrors, ProviderField, ProviderFormValues } from '../provider-form.ts';
import { CopyableValue } from './CopyableValue.tsx';
import { Notice } from './Notice.tsx';

interface ProviderFormProps {
  client: GatehouseClient;
  tenant: string;
  /** The provider profiles offered in step 1 (undefined while loading). */
  profiles: ProviderProfile[] | undefined;
  /** The provider being edited; absent to add one. Remount (`key`) to switch. */
  editing?: TenantProvider;
  onSaved: (view: ProviderView) => void;
  onCancel: () => void;
}

/** Always offered, also when the server lists no profiles. */
export const GENERIC_PROFILE: ProviderProfile = {
  id: 'generic',
  name: 'Generic OpenID Connect',
  summary: 'Any OpenID Provider with discovery, the code flow and PKCE.',
  issuerHint: 'https://idp.example.com',
  defaults: {},
  notes: [],
};

/**
 * "Add provider" as a guided flow: 1. choose a profile, 2. register Gatehouse at the IdP with
 * the URIs shown (before any credentials exist), 3. enter the credentials, test, save. The
 * client secret is write-only: never pre-filled, sent only when typed, dropped once saved.
 */
export function ProviderForm(props: ProviderFormProps) {
  const { client, tenant, editing, onSaved, onCancel } = props;
  const creating = editing === undefined;
  const profiles = withGeneric(props.profiles);
  const [profileId, setProfileId] = useState('generic');
  const profile = profiles.find((candidate) => candidate.id === profileId) ?? GENERIC_PROFILE;
  const [values, setValues] = useState<ProviderFormValues>(() =>
    editing ? providerFormFrom(editing) : emptyProviderForm(),
  );
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [alert, setAlert] = useState<string | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const [report, setReport] = useState<ProviderCheckReport | undefined>(undefined);
  const [testing, setTesting] = useState(false);
  const [testError, setTestError] = useState<string | undefined>(undefined);
  const uris = useProviderUris(client, tenant, values.id);
  const formRef = useRef<HTMLFormElement>(null);

  function set<K extends ProviderField>(field: K, value: ProviderFormValues[K]): void {
    setValues((previous) => ({ ...previous, [field]: value }));
    // A check result describes what was tested: a changed field is no longer what passed.
    setReport(undefined);
  }

  function chooseProfile(next: ProviderProfile): void {
    setProfileId(next.id);
    setValues((previous) => withProfileDefaults(previous, next.defaults));
    setReport(undefined);
  }

  function focusField(field: ProviderField | undefined): void {
    if (field === undefined) return;
    requestAnimationFrame(() =>
      formRef.current?.querySelector<HTMLElement>(`#${fieldId(field)}`)?.focus(),
    );
  }

  function checkLocally(): boolean {
    const invalid = validateProviderForm(values, creating);
    setFieldErrors(invalid);
    setAlert(undefined);
    focusField(firstInvalidField(invalid));
    return firstInvalidField(invalid) === undefined;
  }

  async function runChecks(): Promise<void> {
    if (!checkLocally()) return;
    setTesting(true);
    setTestError(undefined);
    try {
      const result = await client.admin.checkProvider(tenant, toProviderInput(values));
      setReport(result);
      const failed = result.checks.find((check) => !check.ok);
      focusField(fieldForApiPath(failed?.field ?? null));
    } catch (error) {
      const failure = describeSaveFailure(error);
      setFieldErrors(failure.fields);
      setTestError(failure.alert ?? describeProblem(error));
    }
    setTesting(false);
  }

  async function save(): Promise<void> {
    if (!checkLocally()) return;
    setSaving(true);
    try {
      const view = editing
        ? await client.admin.updateProvider(tenant, editing.id, toProviderPatch(values))
        : await client.admin.createProvider(tenant, toProviderInput(values));
      onSaved(view);
    } catch (error) {
      const failure = describeSaveFailure(error);
      setFieldErrors(failure.fields);
      setAlert(failure.alert);
      focusField(firstInvalidField(failure.fields));
      setSaving(false);
    }
  }

  function submit(event: FormEvent<HTMLFormElement>): void {
    event.preventDefault();
    if (!saving) void save();
  }

  const checksAt = (field: ProviderField): ProviderCheck[] =>
    report?.checks.filter((check) => fieldForApiPath(check.field) === field) ?? [];

  const fieldProps = (field: ProviderField) => ({
    id: fieldId(field),
    name: field,
    'aria-invalid':
      fieldErrors[field] !== undefined || checksAt(field).some((check) => !check.ok)
        ? true
        : undefined,
    'aria-describedby': describedBy(field, fieldErrors, checksAt(field).length > 0),
  });

  const fieldCommon = (field: ProviderField) => ({
    field,
    errors: fieldErrors,
    checks: checksAt(field),
  });

  return (
    <section className="provider-form" aria-labelledby="provider-form-heading">
      <h2 id="provider-form-heading">
        {creating ? 'Add a provider' : `Edit provider ${editing.displayName}`}
      </h2>
      {alert !== undefined && (
        <Notice tone="error" testId="provider-error">
          {alert}
        </Notice>
      )}
      <form ref={formRef} className="form form--guided" noValidate onSubmit={submit}>
        {creating && (
          <fieldset className="step" data-testid="step-profile">
            <legend>
              <span className="step__number" aria-hidden="true">
                1
              </span>
              Choose your identity provider
            </legend>
            <div className="profiles" data-testid="profiles">
              {profiles.map((candidate) => (
                <label
                  key={candidate.id}
                  className={`profile${candidate.id === profileId ? ' profile--chosen' : ''}`}
                >
                  <input
                    type="radio"
                    name="profile"
                    value={candidate.id}
                    checked={candidate.id === profileId}
                    onChange={() => chooseProfile(candidate)}
                  />
                  <span className="profile__name">{candidate.name}</span>
                  <span className="profile__summary">{candidate.summary}</span>
                </label>
              ))}
            </div>
            {profile.notes.length > 0 && (
              <ul className="profile-notes" data-testid="profile-notes">
                {profile.notes.map((note) => (
                  <li key={note}>{note}</li>
                ))}
              </ul>
            )}
          </fieldset>
        )}

        <fieldset className="step" data-testid="step-register">
          <legend>
            <span className="step__number" aria-hidden="true">
              {creating ? 2 : 1}
            </span>
            Register Gatehouse at your provider
          </legend>
          <Field {...fieldCommon('id')} label="Provider ID" hint={creating ? idHint : fixedIdHint}>
            <input
              {...fieldProps('id')}
              type="text"
              required={creating}
              readOnly={!creating}
              autoComplete="off"
              spellCheck={false}
              placeholder="e.g. corporate-sso"
              value={values.id}
              onChange={(event) => set('id', event.target.value.trim())}
            />
          </Field>
          <ProviderUriList
            uris={uris}
            privateKeyJwt={String(values.tokenEndpointAuthMethod) === 'private_key_jwt'}
          />
        </fieldset>

        <fieldset className="step" data-testid="step-credentials">
          <legend>
            <span className="step__number" aria-hidden="true">
              {creating ? 3 : 2}
            </span>
            Enter what your provider gave you
          </legend>
          <Field
            {...fieldCommon('displayName')}
            label="Display name"
            hint="What users see on the sign-in button."
          >
            <input
              {...fieldProps('displayName')}
              type="text"
              required
              autoComplete="off"
              value={values.displayName}
              onChange={(event) => set('displayName', event.target.value)}
            />
          </Field>
          <Field
            {...fieldCommon('issuer')}
            label="Issuer"
            hint={`The issuer URL exactly as its discovery document names it, e.g. ${profile.issuerHint}`}
          >
            <input
              {...fieldProps('issuer')}
              type="url"
              required
              autoComplete="off"
              spellCheck={false}
              placeholder={profile.issuerHint}
              value={values.issuer}
              onChange={(event) => set('issuer', event.target.value)}
            />
          </Field>
          <Field {...fieldCommon('clientId')} label="Client ID">
            <input
              {...fieldProps('clientId')}
              type="text"
              required
              autoComplete="off"
              spellCheck={false}
              value={values.clientId}
              onChange={(event) => set('clientId', event.target.value)}
            />
          </Field>
          <Field
            {...fieldCommon('clientSecret')}
            label="Client secret"
            hint={
              creating || editing.hasClientSecret === false
                ? 'Write-only: never shown again once saved.'
                : 'Stored. Leave empty to keep it; type a new one to replace it.'
            }
          >
            <input
              {...fieldProps('clientSecret')}
              type="password"
              autoComplete="new-password"
              spellCheck={false}
              value={values.clientSecret}
              onChange={(event) => set('clientSecret', event.target.value)}
            />
          </Field>
          <Field {...fieldCommon('tokenEndpointAuthMethod')} label="Token endpoint auth method">
            <select
              {...fieldProps('tokenEndpointAuthMethod')}
              value={values.tokenEndpointAuthMethod}
              onChange={(event) =>
                set(
                  'tokenEndpointAuthMethod',
                  OFFERED_AUTH_METHODS.find((method) => method === event.target.value) ??
                    'client_secret_basic',
                )
              }
            >
              {OFFERED_AUTH_METHODS.map((method) => (
                <option key={method} value={method}>
                  {AUTH_METHOD_LABELS[method] ?? method}
                </option>
              ))}
            </select>
          </Field>
          <details className="advanced">
            <summary>Scopes and parameters</summary>
            <Field {...fieldCommon('scopes')} label="Scopes" hint="Space separated.">
              <input
                {...fieldProps('scopes')}
                type="text"
                autoComplete="off"
                spellCheck={false}
                value={values.scopes}
                onChange={(event) => set('scopes', event.target.value)}
              />
            </Field>
            <Field
              {...fieldCommon('extraParams')}
              label="Extra parameters"
              hint="Added to the authorization request, one key=value per line, e.g. prompt=consent."
            >
              <textarea
                {...fieldProps('extraParams')}
                rows={3}
                spellCheck={false}
                placeholder="prompt=consent"
                value={values.extraParams}
                onChange={(event) => set('extraParams', event.target.value)}
              />
            </Field>
            <div className="field field--checkbox">
              <input
                {...fieldProps('enabled')}
                type="checkbox"
                checked={values.enabled}
                onChange={(event) => set('enabled', event.target.checked)}
              />
              <label htmlFor={fieldId('enabled')}>Enabled</label>
              <FieldError field="enabled" errors={fieldErrors} />
            </div>
          </details>
        </fieldset>

        <CheckReport report={report} testing={testing} error={testError} />
        <div className="actions">
          <button
            type="button"
            className="button--secondary"
            disabled={testing || saving}
            aria-busy={testing}
            onClick={() => void runChecks()}
          >
            Test these settings
          </button>
          <button type="submit" disabled={saving} aria-busy={saving}>
            Save provider
          </button>
          {!creating && (
            <button type="button" className="button--secondary" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </section>
  );
}

function withGeneric(profiles: ProviderProfile[] | undefined): ProviderProfile[] {
  const list = profiles ?? [];
  return list.some((profile) => profile.id === 'generic') ? list : [GENERIC_PROFILE, ...list];
}

type UriState =
  | { kind: 'waiting' }
  | { kind: 'loading' }
  | { kind: 'ready'; uris: ProviderUris }
  | { kind: 'error'; message: string };

/** The URIs for the typed provider id, asked for once typing pauses. */
function useProviderUris(client: GatehouseClient, tenant: string, id: string): UriState {
  const [answer, setAnswer] = useState<{ id: string; state: UriState } | undefined>(undefined);
  const valid = isProviderId(id);
  useEffect(() => {
    if (!valid) return undefined;
    let current = true;
    const timer = setTimeout(() => {
      client.admin.providerUris(tenant, id).then(
        (uris) => {
          if (current) setAnswer({ id, state: { kind: 'ready', uris } });
        },
        (error: unknown) => {
          if (!current) return;
          const message =
            error instanceof GatehouseProblem ? describeProblem(error) : 'Could not load them.';
          setAnswer({ id, state: { kind: 'error', message } });
        },
      );
    }, 250);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [client, tenant, id, valid]);
  if (!valid) return { kind: 'waiting' };
  return answer?.id === id ? answer.state : { kind: 'loading' };
}

function ProviderUriList({ uris, privateKeyJwt }: { uris: UriState; privateKeyJwt: boolean }) {
  if (uris.kind === 'waiting') {
    return (
      <p className="hint" data-testid="uris-waiting">
        Type a provider ID to see the addresses to register at your identity provider.
      </p>
    );
  }
  if (uris.kind === 'loading') return <p className="hint">Working out the addresses…</p>;
  if (uris.kind === 'error') {
    return (
      <Notice tone="error" testId="uris-error">
        {`Could not show the addresses: ${uris.message}`}
      </Notice>
    );
  }
  return (
    <div className="uris" data-testid="provider-uris">
      <p>Create a confidential client at your provider with these addresses:</p>
      <CopyableValue label="Redirect URI" value={uris.uris.redirectUri} testId="redirect-uri" />
      <CopyableValue
        label="Post-logout redirect URI"
        value={uris.uris.postLogoutRedirectUri}
        testId="post-logout-uri"
      />
      <CopyableValue
        label="Back-channel logout URI"
        value={uris.uris.backchannelLogoutUri}
        testId="backchannel-uri"
      />
      {privateKeyJwt && (
        <CopyableValue label="JWKS URL" value={uris.uris.jwksUri} testId="jwks-uri" />
      )}
    </div>
  );
}

/** Every check by name, passed or not, with its sentence. */
function CheckReport(props: {
  report: ProviderCheckReport | undefined;
  testing: boolean;
  error: string | undefined;
}) {
  const { report, testing, error } = props;
  return (
    <div aria-live="polite" className="check-report-region">
      {testing && <p className="hint">Testing the provider…</p>}
      {error !== undefined && (
        <Notice tone="error" testId="provider-checks-error">
          {error}
        </Notice>
      )}
      {report !== undefined && !testing && (
        <section
          className={`check-report ${report.ok ? 'check-report--ok' : 'check-report--failed'}`}
          data-testid="provider-checks"
          data-ok={report.ok ? 'true' : 'false'}
          aria-label="Test results"
        >
          <p className="check-report__summary">
            {report.ok
              ? 'Every check passed: you can save this provider.'
              : `${report.checks.filter((check) => !check.ok).length} of ${report.checks.length} checks failed: see the marked fields.`}
          </p>
          <ul className="checks">
            {report.checks.map((check) => (
              <CheckItem key={check.name} check={check} />
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}

function CheckItem({ check }: { check: ProviderCheck }) {
  return (
    <li
      className={`check ${check.ok ? 'check--ok' : 'check--failed'}`}
      data-testid="provider-check"
      data-check={check.name}
      data-ok={check.ok ? 'true' : 'false'}
    >
      <span className="check__mark" aria-hidden="true">
        {check.ok ? '✓' : '✗'}
      </span>
      <span className="visually-hidden">{check.ok ? 'Passed: ' : 'Failed: '}</span>
      <span className="check__message">{check.message}</span>
      <span className="check__name mono">{check.name}</span>
    </li>
  );
}

const idHint = 'Lower-case letters, digits and dashes; part of the redirect URI, fixed once saved.';
const fixedIdHint = 'The ID cannot be changed.';

function Field(props: {
  field: ProviderField;
  label: string;
  errors: FieldErrors;
  checks: ProviderCheck[];
  hint?: string | undefined;
  children: ReactNode;
}) {
  const { field, label, errors, checks, hint, children } = props;
  return (
    <div className="field">
      <label htmlFor={fieldId(field)}>{label}</label>
      {children}
      {hint !== undefined && (
        <p className="hint" id={`${fieldId(field)}-hint`}>
          {hint}
        </p>
      )}
      <FieldError field={field} errors={errors} />
      {checks.length > 0 && (
        <ul className="field-checks" id={`${fieldId(field)}-checks`}>
          {checks.map((check) => (
            <li
              key={check.name}
              className={`check ${check.ok ? 'check--ok' : 'check--failed'}`}
              data-testid={`field-check-${field}`}
              data-check={check.name}
              data-ok={check.ok ? 'true' : 'false'}
            >
              <span className="check__mark" aria-hidden="true">
                {check.ok ? '✓' : '✗'}
              </span>
              <span className="visually-hidden">{check.ok ? 'Passed: ' : 'Failed: '}</span>
              <span className="check__message">{check.message}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function FieldError({ field, errors }: { field: ProviderField; errors: FieldErrors }) {
  const message = errors[field];
  if (message === undefined) return null;
  return (
    <p className="field-error" id={`${fieldId(field)}-error`} data-testid={`field-error-${field}`}>
      {message}
    </p>
  );
}

function fieldId(field: ProviderField): string {
  return `provider-${field}`;
}

/** The error (first, it matters most), the checks and the hint, for screen readers. */
function describedBy(
  field: ProviderField,
  errors: FieldErrors,
  checked: boolean,
): string | undefined {
  const ids = [
    ...(errors[field] === undefined ? [] : [`${fieldId(field)}-error`]),
    ...(checked ? [`${fieldId(field)}-checks`] : []),
    ...(HINTED.has(field) ? [`${fieldId(field)}-hint`] : []),
  ];
  return ids.length === 0 ? undefined : ids.join(' ');
}

const HINTED: ReadonlySet<ProviderField> = new Set([
  'id',
  'issuer',
  'clientSecret',
  'displayName',
  'scopes',
  'extraParams',
]);
