import type { GatehouseClient, ProviderView, TenantProvider } from '@gatehouse/client';
import { useRef, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import {
  AUTH_METHODS,
  describeSaveFailure,
  emptyProviderForm,
  firstInvalidField,
  providerFormFrom,
  toProviderInput,
  toProviderPatch,
  validateProviderForm,
} from '../provider-form.ts';
import type { FieldErrors, ProviderField, ProviderFormValues } from '../provider-form.ts';
import { Notice } from './Notice.tsx';

interface ProviderFormProps {
  client: GatehouseClient;
  tenant: string;
  /** The provider being edited; absent to add one. Remount (`key`) to switch. */
  editing?: TenantProvider;
  onSaved: (view: ProviderView) => void;
  onCancel: () => void;
}

/**
 * "Add provider" / "Edit provider". The client secret is write-only: never pre-filled, sent only
 * when typed, and dropped from memory once saved.
 */
export function ProviderForm({ client, tenant, editing, onSaved, onCancel }: ProviderFormProps) {
  const creating = editing === undefined;
  const [values, setValues] = useState<ProviderFormValues>(() =>
    editing ? providerFormFrom(editing) : emptyProviderForm(),
  );
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [alert, setAlert] = useState<string | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  function set<K extends ProviderField>(field: K, value: ProviderFormValues[K]): void {
    setValues((previous) => ({ ...previous, [field]: value }));
  }

  function focusField(field: ProviderField | undefined): void {
    if (field === undefined) return;
    // After React rendered the error (and aria-invalid) next to it.
    requestAnimationFrame(() =>
      formRef.current?.querySelector<HTMLElement>(`#${fieldId(field)}`)?.focus(),
    );
  }

  async function save(): Promise<void> {
    const invalid = validateProviderForm(values, creating);
    setFieldErrors(invalid);
    setAlert(undefined);
    if (firstInvalidField(invalid) !== undefined) {
      focusField(firstInvalidField(invalid));
      return;
    }
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

  const fieldProps = (field: ProviderField) => ({
    id: fieldId(field),
    name: field,
    'aria-invalid': fieldErrors[field] === undefined ? undefined : true,
    'aria-describedby': describedBy(field, fieldErrors),
  });

  return (
    <section className="provider-form" aria-labelledby="provider-form-heading">
      <h2 id="provider-form-heading">
        {creating ? 'Add provider' : `Edit provider ${editing.displayName}`}
      </h2>
      {alert !== undefined && (
        <Notice tone="error" testId="provider-error">
          {alert}
        </Notice>
      )}
      <form ref={formRef} className="form" noValidate onSubmit={submit}>
        <Field
          field="id"
          label="Provider ID"
          errors={fieldErrors}
          hint={creating ? idHint : 'The ID cannot be changed.'}
        >
          <input
            {...fieldProps('id')}
            type="text"
            required={creating}
            readOnly={!creating}
            autoComplete="off"
            spellCheck={false}
            value={values.id}
            onChange={(event) => set('id', event.target.value)}
          />
        </Field>
        <Field field="displayName" label="Display name" errors={fieldErrors}>
          <input
            {...fieldProps('displayName')}
            type="text"
            required
            autoComplete="off"
            // Editing starts where the admin most likely wants to change something.
            autoFocus={!creating}
            value={values.displayName}
            onChange={(event) => set('displayName', event.target.value)}
          />
        </Field>
        <Field
          field="issuer"
          label="Issuer URL"
          errors={fieldErrors}
          hint="Exactly as the provider's discovery document names it, e.g. https://login.example.com/tenant."
        >
          <input
            {...fieldProps('issuer')}
            // Not type=url: the server's precise message beats the browser's generic bubble.
            type="text"
            inputMode="url"
            required
            autoComplete="off"
            spellCheck={false}
            value={values.issuer}
            onChange={(event) => set('issuer', event.target.value)}
          />
        </Field>
        <Field field="clientId" label="Client ID" errors={fieldErrors}>
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
          field="clientSecret"
          label="Client secret"
          errors={fieldErrors}
          hint={
            creating
              ? 'Needed for client_secret_basic and client_secret_post. It cannot be read back.'
              : 'Leave empty to keep the stored secret (removed for none).'
          }
        >
          <input
            {...fieldProps('clientSecret')}
            type="password"
            autoComplete="off"
            placeholder={creating ? undefined : 'unchanged'}
            value={values.clientSecret}
            onChange={(event) => set('clientSecret', event.target.value)}
          />
        </Field>
        <Field field="tokenEndpointAuthMethod" label="Authentication method" errors={fieldErrors}>
          <select
            {...fieldProps('tokenEndpointAuthMethod')}
            value={values.tokenEndpointAuthMethod}
            onChange={(event) =>
              set(
                'tokenEndpointAuthMethod',
                AUTH_METHODS.find((method) => method === event.target.value) ??
                  'client_secret_basic',
              )
            }
          >
            {AUTH_METHODS.map((method) => (
              <option key={method} value={method}>
                {method}
              </option>
            ))}
          </select>
        </Field>
        <Field field="scopes" label="Scopes" errors={fieldErrors} hint="Space separated.">
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
          field="extraParams"
          label="Extra parameters"
          errors={fieldErrors}
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
        <div className="actions">
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

const idHint = 'Lower-case letters, digits and dashes; part of the redirect URI, fixed once saved.';

function Field(props: {
  field: ProviderField;
  label: string;
  errors: FieldErrors;
  hint?: string | undefined;
  children: ReactNode;
}) {
  const { field, label, errors, hint, children } = props;
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

/** The error (first, it matters most) and the hint, for screen readers. */
function describedBy(field: ProviderField, errors: FieldErrors): string | undefined {
  const ids = [
    ...(errors[field] === undefined ? [] : [`${fieldId(field)}-error`]),
    ...(HINTED.has(field) ? [`${fieldId(field)}-hint`] : []),
  ];
  return ids.length === 0 ? undefined : ids.join(' ');
}

const HINTED: ReadonlySet<ProviderField> = new Set([
  'id',
  'issuer',
  'clientSecret',
  'scopes',
  'extraParams',
]);
