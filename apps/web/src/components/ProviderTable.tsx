import type { ProviderView, TenantProvider } from '@gatehouse/client';

export interface ProviderRowActions {
  onEdit: (view: ProviderView) => void;
  onToggle: (provider: TenantProvider) => void;
  onTest: (provider: TenantProvider) => void;
  /** First click asks for confirmation (the button turns into "Confirm delete"), second deletes. */
  onDelete: (provider: TenantProvider) => void;
  onCancelDelete: () => void;
}

interface ProviderTableProps extends ProviderRowActions {
  views: ProviderView[];
  /** The provider whose "Delete" was clicked once. */
  confirmingDelete: string | undefined;
  busy: boolean;
}

/** The tenant's providers; config-file rows are read-only (test only). Secrets only as "••••••". */
export function ProviderTable(props: ProviderTableProps) {
  if (props.views.length === 0) {
    return <p data-testid="providers-empty">No identity providers yet. Add one below.</p>;
  }
  return (
    <div className="table-scroll">
      <table className="table table--providers" data-testid="providers">
        <thead>
          <tr>
            <th scope="col">Display name</th>
            <th scope="col">Issuer</th>
            <th scope="col">Client ID</th>
            <th scope="col">Client secret</th>
            <th scope="col">State</th>
            <th scope="col">Source</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.views.map((view) => (
            <ProviderRow key={view.provider.id} view={view} {...props} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ProviderRow(props: ProviderTableProps & { view: ProviderView }) {
  const { view, busy } = props;
  const { provider } = view;
  const confirming = props.confirmingDelete === provider.id;
  return (
    <tr
      data-testid="provider-row"
      data-provider-id={provider.id}
      data-enabled={provider.enabled ? 'true' : 'false'}
      data-source={provider.source}
    >
      <td>{provider.displayName}</td>
      <td className="mono">{provider.issuer}</td>
      <td className="mono">{provider.clientId}</td>
      <td>
        {provider.hasClientSecret ? (
          <>
            <span aria-hidden="true">••••••</span>
            <span className="visually-hidden">stored</span>
          </>
        ) : (
          <span className="muted">none</span>
        )}
      </td>
      <td>{provider.enabled ? 'Enabled' : 'Disabled'}</td>
      <td>{provider.source === 'config' ? 'config (read-only)' : 'dynamic'}</td>
      <td>
        <div className="row-actions">
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
            </>
          )}
          <button
            type="button"
            className="button--secondary"
            disabled={busy}
            onClick={() => props.onTest(provider)}
          >
            Test
          </button>
          {provider.source === 'dynamic' && (
            <>
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
      </td>
    </tr>
  );
}
