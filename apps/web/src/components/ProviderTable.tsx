import type { ProviderView, TenantProvider } from '@gatehouse/client';
import type { ReactNode } from 'react';
import { CopyableValue } from './CopyableValue.tsx';

/** The last test of a provider in this console: its checks, or a test sign-in. */
export type ProviderTestOutcome =
  | { kind: 'running'; what: string }
  | { kind: 'passed'; summary: string; details: string[] }
  | { kind: 'failed'; summary: string; details: string[] };

export interface ProviderRowActions {
  onEdit: (view: ProviderView) => void;
  onToggle: (provider: TenantProvider) => void;
  onTest: (provider: TenantProvider) => void;
  onTestSignIn: (provider: TenantProvider) => void;
  /** First click asks for confirmation (the button turns into "Confirm delete"), second deletes. */
  onDelete: (provider: TenantProvider) => void;
  onCancelDelete: () => void;
}

interface ProviderTableProps extends ProviderRowActions {
  views: ProviderView[];
  /** The provider whose "Delete" was clicked once. */
  confirmingDelete: string | undefined;
  busy: boolean;
  /** The last test result by provider id. */
  outcomes: Readonly<Record<string, ProviderTestOutcome>>;
  /** The signing keys panel of a private_key_jwt provider. */
  keysPanel?: (provider: TenantProvider) => ReactNode;
}

/**
 * The tenant's providers as cards (one column on a phone, nothing scrolls sideways): every URI
 * to register at the IdP, the last test result, the actions. Config-file providers are
 * read-only (test only). Secrets only as "••••••".
 */
export function ProviderTable(props: ProviderTableProps) {
  if (props.views.length === 0) {
    return <p data-testid="providers-empty">No identity providers yet. Add one below.</p>;
  }
  return (
    <ul className="provider-cards" data-testid="providers" aria-label="Identity providers">
      {props.views.map((view) => (
        <ProviderCard key={view.provider.id} view={view} {...props} />
      ))}
    </ul>
  );
}

/** The URIs a tenant admin registers at the IdP for this provider. */
function urisOf(view: ProviderView): Array<[string, string, string]> {
  const uris: Readonly<Record<string, unknown>> = { ...view.uris };
  const pick = (key: string): string | undefined => {
    const value = uris[key];
    return typeof value === 'string' ? value : undefined;
  };
  const list: Array<[string, string, string]> = [];
  const add = (label: string, key: string, testId: string) => {
    const value = pick(key);
    if (value !== undefined) list.push([label, value, testId]);
  };
  add('Redirect URI', 'redirectUri', 'row-redirect-uri');
  add('Post-logout redirect URI', 'postLogoutRedirectUri', 'row-post-logout-uri');
  add('Back-channel logout URI', 'backchannelLogoutUri', 'row-backchannel-uri');
  if (view.provider.tokenEndpointAuthMethod === 'private_key_jwt') {
    add('JWKS URL', 'jwksUri', 'row-jwks-uri');
  }
  return list;
}

function ProviderCard(props: ProviderTableProps & { view: ProviderView }) {
  const { view, busy } = props;
  const { provider } = view;
  const confirming = props.confirmingDelete === provider.id;
  const outcome = props.outcomes[provider.id];
  const headingId = `provider-card-${provider.id}`;
  return (
    <li
      className="provider-card"
      data-testid="provider-row"
      data-provider-id={provider.id}
      data-enabled={provider.enabled ? 'true' : 'false'}
      data-source={provider.source}
      aria-labelledby={headingId}
    >
      <div className="provider-card__head">
        <h3 id={headingId}>{provider.displayName}</h3>
        <span className={`pill ${provider.enabled ? 'pill--ok' : 'pill--off'}`}>
          {provider.enabled ? 'Enabled' : 'Disabled'}
        </span>
        <span className="pill">
          {provider.source === 'config' ? 'Config file (read-only)' : 'Added here'}
        </span>
      </div>
      <dl className="provider-card__facts">
        <dt>Provider ID</dt>
        <dd className="mono">{provider.id}</dd>
        <dt>Issuer</dt>
        <dd className="mono">{provider.issuer}</dd>
        <dt>Client ID</dt>
        <dd className="mono">{provider.clientId}</dd>
        <dt>Client secret</dt>
        <dd>
          {provider.hasClientSecret ? (
            <>
              <span aria-hidden="true">••••••</span>
              <span className="visually-hidden">stored</span>
            </>
          ) : (
            <span className="muted">none</span>
          )}
        </dd>
        <dt>Auth method</dt>
        <dd className="mono">{provider.tokenEndpointAuthMethod}</dd>
      </dl>
      <details className="provider-card__uris">
        <summary>Addresses to register at the provider</summary>
        {urisOf(view).map(([label, value, testId]) => (
          <CopyableValue key={testId} label={label} value={value} testId={testId} />
        ))}
      </details>
      {provider.tokenEndpointAuthMethod === 'private_key_jwt' && props.keysPanel?.(provider)}
      <TestOutcome outcome={outcome} />
      <div className="row-actions">
        <button
          type="button"
          className="button--secondary"
          disabled={busy}
          onClick={() => props.onTest(provider)}
        >
          Test
        </button>
        <button
          type="button"
          className="button--secondary"
          disabled={busy || !provider.enabled}
          onClick={() => props.onTestSignIn(provider)}
        >
          Test sign-in
        </button>
        {provider.source === 'dynamic' && (
          <>
            <button
              type="button"
              className="button--secondary"
              disabled={busy}
              onClick={() => props.onEdit(view)}
            >
              Edit
            </button>
            <button
              type="button"
              className="button--secondary"
              disabled={busy}
              onClick={() => props.onToggle(provider)}
            >
              {provider.enabled ? 'Disable' : 'Enable'}
            </button>
            <button
              type="button"
              className={confirming ? 'button--danger' : 'button--secondary'}
              disabled={busy}
              onClick={() => props.onDelete(provider)}
            >
              {confirming ? 'Confirm delete' : 'Delete'}
            </button>
            {confirming && (
              <button
                type="button"
                className="button--secondary"
                disabled={busy}
                onClick={props.onCancelDelete}
              >
                Keep
              </button>
            )}
          </>
        )}
      </div>
    </li>
  );
}

function TestOutcome({ outcome }: { outcome: ProviderTestOutcome | undefined }) {
  return (
    <div
      role="status"
      className={`test-outcome${outcome?.kind === 'failed' ? ' test-outcome--failed' : ''}`}
      data-testid="provider-test-result"
      data-outcome={outcome?.kind ?? 'none'}
    >
      {outcome === undefined && <p className="muted">Not tested in this visit yet.</p>}
      {outcome?.kind === 'running' && <p>{outcome.what}</p>}
      {outcome !== undefined && outcome.kind !== 'running' && (
        <>
          <p className="test-outcome__summary">
            <span aria-hidden="true">{outcome.kind === 'passed' ? '✓ ' : '✗ '}</span>
            {outcome.summary}
          </p>
          {outcome.details.length > 0 && (
            <ul className="test-outcome__details">
              {outcome.details.map((detail) => (
                <li key={detail}>{detail}</li>
              ))}
            </ul>
          )}
        </>
      )}
    </div>
  );
}
