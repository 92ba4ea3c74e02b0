import type {
  AdminIdentity,
  GatehouseClient,
  GatehouseUser,
  ProviderProfile,
  ProviderView,
  SessionState,
  TenantProvider,
} from '@gatehouse/client';
import { GatehouseProblem } from '@gatehouse/client';
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiKeysTab } from '../components/admin/ApiKeysTab.tsx';
import { AuditTab } from '../components/admin/AuditTab.tsx';
import { SessionsTab } from '../components/admin/SessionsTab.tsx';
import { SigningKeysPanel } from '../components/admin/SigningKeysPanel.tsx';
import { Tabs } from '../components/admin/Tabs.tsx';
import { ProviderForm } from '../components/ProviderForm.tsx';
import { ProviderTable, type ProviderTestOutcome } from '../components/ProviderTable.tsx';
import '../admin.css';
import { describeProblem } from '../format.ts';
import { checkFailure } from '../provider-form.ts';
import { Link } from '../router.tsx';
import { Notice } from '../components/Notice.tsx';

/** `/admin`: the tenant admin console for the signed-in user's tenant. */
export function AdminPage({
  client,
  state,
}: {
  client: GatehouseClient<true>;
  state: SessionState;
}) {
  return (
    <>
      <h1>Admin console</h1>
      {state.status === 'signed-in' ? (
        <AdminGate client={client} user={state.user} />
      ) : (
        <div className="sign-in">
          <p>Sign in to manage your organisation&apos;s identity providers.</p>
          <button type="button" onClick={() => client.login({ returnTo: '/admin' })}>
            Sign in
          </button>
        </div>
      )}
      <p>
        <Link to="/">Back to home</Link>
      </p>
    </>
  );
}

type Access =
  | { kind: 'checking' }
  | { kind: 'admin'; identity: AdminIdentity }
  | { kind: 'denied' }
  | { kind: 'error'; message: string };

/** Asks the admin API who we are before showing anything of the tenant. */
function AdminGate({ client, user }: { client: GatehouseClient<true>; user: GatehouseUser }) {
  const [access, setAccess] = useState<Access>({ kind: 'checking' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    client.admin.me().then(
      (identity) => {
        if (current) setAccess({ kind: 'admin', identity });
      },
      (error: unknown) => {
        if (!current) return;
        setAccess(
          isRefused(error)
            ? { kind: 'denied' }
            : { kind: 'error', message: describeProblem(error) },
        );
      },
    );
    return () => {
      current = false;
    };
  }, [client, attempt]);

  if (access.kind === 'checking') return <p role="status">Checking your access…</p>;
  if (access.kind === 'denied') {
    return (
      <Notice tone="error" testId="admin-denied">
        You are not an administrator of this organisation.
      </Notice>
    );
  }
  if (access.kind === 'error') {
    return (
      <Notice
        tone="error"
        testId="admin-error"
        onRetry={() => {
          setAccess({ kind: 'checking' });
          setAttempt((n) => n + 1);
        }}
      >
        Could not open the admin console: {access.message}
      </Notice>
    );
  }
  const role = access.identity.role === 'operator' ? 'platform operator' : 'tenant administrator';
  return (
    <>
      <p className="lead" data-testid="admin-identity">
        {`Organisation ${user.tenant} · you are signed in as ${role}`}
      </p>
      <AdminTabs client={client} tenant={user.tenant} />
    </>
  );
}

type TabId = 'providers' | 'api-keys' | 'sessions' | 'audit';
const TABS: ReadonlyArray<{ id: TabId; label: string }> = [
  { id: 'providers', label: 'Providers' },
  { id: 'api-keys', label: 'API keys' },
  { id: 'sessions', label: 'Sessions' },
  { id: 'audit', label: 'Audit' },
];

function AdminTabs({ client, tenant }: { client: GatehouseClient<true>; tenant: string }) {
  const [tab, setTab] = useState<TabId>('providers');
  return (
    <Tabs label="Admin console" tabs={TABS} selected={tab} onSelect={setTab}>
      {tab === 'providers' && <ProviderAdmin client={client} tenant={tenant} />}
      {tab === 'api-keys' && <ApiKeysTab client={client} tenant={tenant} />}
      {tab === 'sessions' && <SessionsTab client={client} tenant={tenant} />}
      {tab === 'audit' && <AuditTab client={client} tenant={tenant} />}
    </Tabs>
  );
}

function isRefused(error: unknown): boolean {
  return error instanceof GatehouseProblem && (error.status === 401 || error.status === 403);
}

/** What the test sign-in page posts (see the server's `http/test-sign-in.ts`). */
interface TestSignInMessage {
  type: 'gatehouse:test-sign-in';
  provider: string;
  displayName: string;
  subject: string;
  claims: Record<string, string>;
}

function isTestSignInMessage(data: unknown): data is TestSignInMessage {
  const record = data as Partial<TestSignInMessage> | null;
  return (
    typeof record === 'object' &&
    record !== null &&
    record.type === 'gatehouse:test-sign-in' &&
    typeof record.provider === 'string' &&
    typeof record.subject === 'string' &&
    typeof record.claims === 'object'
  );
}

/** The provider cards with their actions, then the guided "Add a provider" flow. */
function ProviderAdmin({ client, tenant }: { client: GatehouseClient<true>; tenant: string }) {
  const [views, setViews] = useState<ProviderView[] | undefined>(undefined);
  const [profiles, setProfiles] = useState<ProviderProfile[] | undefined>(undefined);
  const [listError, setListError] = useState<string | undefined>(undefined);
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [confirmingDelete, setConfirmingDelete] = useState<string | undefined>(undefined);
  const [outcomes, setOutcomes] = useState<Record<string, ProviderTestOutcome>>({});
  const [editing, setEditing] = useState<TenantProvider | undefined>(undefined);
  // Bumped after each save so the form starts over empty (and forgets the typed secret).
  const [formGeneration, setFormGeneration] = useState(0);
  // Only the newest test run of a provider may report: an older, slower one must not overwrite it.
  const latestTest = useRef<Record<string, number>>({});

  const load = useCallback(
    () =>
      client.admin.listProviders(tenant).then(
        (list) => {
          setViews(list);
          setListError(undefined);
        },
        (error: unknown) => setListError(`Could not load the providers: ${describeProblem(error)}`),
      ),
    [client, tenant],
  );

  useEffect(() => {
    void load();
  }, [load]);

  useEffect(() => {
    let current = true;
    // Without profiles the flow still offers Generic OpenID Connect.
    client.admin.providerProfiles().then(
      (list) => {
        if (current) setProfiles(list);
      },
      () => {
        if (current) setProfiles([]);
      },
    );
    return () => {
      current = false;
    };
  }, [client]);

  // The test sign-in window reports here (same origin, whatever its opener became).
  useEffect(() => {
    if (typeof BroadcastChannel === 'undefined') return undefined;
    const channel = new BroadcastChannel(TEST_SIGN_IN_CHANNEL);
    channel.onmessage = (event: MessageEvent<unknown>) => {
      if (!isTestSignInMessage(event.data)) return;
      const message = event.data;
      setOutcomes((previous) => ({
        ...previous,
        [message.provider]: {
          kind: 'passed',
          summary: `Sign-in with ${message.displayName} works: subject ${message.subject}.`,
          details: Object.entries(message.claims).map(([name, value]) => `${name}: ${value}`),
        },
      }));
    };
    return () => channel.close();
  }, []);

  function report(id: string, outcome: ProviderTestOutcome, run?: number): void {
    if (run !== undefined && latestTest.current[id] !== run) return;
    setOutcomes((previous) => ({ ...previous, [id]: outcome }));
  }

  /** Runs one card action, reports it, and reloads the list whatever happened. */
  async function run(action: () => Promise<unknown>, done: string): Promise<void> {
    setBusy(true);
    setNotice(undefined);
    setActionError(undefined);
    try {
      await action();
      setNotice(done);
    } catch (error) {
      setActionError(describeActionFailure(error));
    }
    await load();
    setBusy(false);
  }

  function toggle(provider: TenantProvider): void {
    setConfirmingDelete(undefined);
    const enabled = !provider.enabled;
    void run(
      () => client.admin.updateProvider(tenant, provider.id, { enabled }),
      `${enabled ? 'Enabled' : 'Disabled'} ${provider.displayName}.`,
    );
  }

  function remove(provider: TenantProvider): void {
    if (confirmingDelete !== provider.id) {
      setConfirmingDelete(provider.id);
      return;
    }
    setConfirmingDelete(undefined);
    if (editing?.id === provider.id) setEditing(undefined);
    void run(
      () => client.admin.deleteProvider(tenant, provider.id),
      `Deleted ${provider.displayName}.`,
    );
  }

  function test(provider: TenantProvider): void {
    setConfirmingDelete(undefined);
    const id = provider.id;
    const attempt = (latestTest.current[id] = (latestTest.current[id] ?? 0) + 1);
    report(id, { kind: 'running', what: `Testing ${provider.displayName}…` });
    client.admin.testProvider(tenant, id).then(
      (result) => report(id, checksOutcome(result.checks as unknown[]), attempt),
      (error: unknown) =>
        report(id, { kind: 'failed', summary: describeActionFailure(error), details: [] }, attempt),
    );
  }

  function testSignIn(provider: TenantProvider): void {
    const query = new URLSearchParams({ tenant, provider: provider.id, mode: 'test' });
    const popup = window.open(
      `/bff/login?${query.toString()}`,
      'gatehouse-test-sign-in',
      'popup=yes,width=520,height=720',
    );
    report(
      provider.id,
      popup === null
        ? {
            kind: 'failed',
            summary: 'The browser blocked the test sign-in window: allow pop-ups for this site.',
            details: [],
          }
        : {
            kind: 'running',
            what: `Sign in with ${provider.displayName} in the new window; the result shows here.`,
          },
    );
  }

  function edit(view: ProviderView): void {
    setConfirmingDelete(undefined);
    setEditing(view.provider);
  }

  function onSaved(view: ProviderView): void {
    setEditing(undefined);
    setNotice(`Saved ${view.provider.displayName}. Try it with "Test sign-in".`);
    setActionError(undefined);
    setFormGeneration((n) => n + 1);
    void load();
  }

  function cancelEdit(): void {
    setEditing(undefined);
    setFormGeneration((n) => n + 1);
  }

  return (
    <>
      <h2>Identity providers</h2>
      {listError !== undefined && (
        <Notice tone="error" testId="providers-error" onRetry={() => void load()}>
          {listError}
        </Notice>
      )}
      {actionError !== undefined && (
        <Notice tone="error" testId="provider-action-error">
          {actionError}
        </Notice>
      )}
      {notice !== undefined && (
        <Notice tone="status" testId="admin-notice">
          {notice}
        </Notice>
      )}
      {views === undefined ? (
        listError === undefined && <p role="status">Loading providers…</p>
      ) : (
        <ProviderTable
          views={views}
          busy={busy}
          confirmingDelete={confirmingDelete}
          outcomes={outcomes}
          onEdit={edit}
          onToggle={toggle}
          onTest={test}
          onTestSignIn={testSignIn}
          onDelete={remove}
          onCancelDelete={() => setConfirmingDelete(undefined)}
          keysPanel={(provider) => (
            <SigningKeysPanel client={client} tenant={tenant} provider={provider} />
          )}
        />
      )}
      <ProviderForm
        key={`${editing?.id ?? 'new'}-${formGeneration}`}
        client={client}
        tenant={tenant}
        profiles={profiles}
        {...(editing === undefined ? {} : { editing })}
        onSaved={onSaved}
        onCancel={cancelEdit}
      />
    </>
  );
}

/** The channel the test sign-in page posts its result on. */
const TEST_SIGN_IN_CHANNEL = 'gatehouse-test-sign-in';

/**
 * A test answer's checks: named results with sentences (`{ name, ok, message }`), or the older
 * list of passed check names.
 */
function checksOutcome(checks: unknown[]): ProviderTestOutcome {
  const described = checks.map((check) => {
    if (typeof check === 'string') {
      return { ok: true, text: CHECK_LABELS[check] ?? check };
    }
    const record = check as { name?: unknown; ok?: unknown; message?: unknown };
    const text = typeof record.message === 'string' ? record.message : String(record.name);
    return { ok: record.ok === true, text };
  });
  const failed = described.filter((check) => !check.ok);
  const details = described.map((check) => `${check.ok ? 'Passed' : 'Failed'}: ${check.text}`);
  return failed.length === 0
    ? { kind: 'passed', summary: `All ${described.length} checks passed.`, details }
    : {
        kind: 'failed',
        summary: `${failed.length} of ${described.length} checks failed.`,
        details,
      };
}

/** "The provider check failed: … (check: jwks)" for the checks, else the problem's one line. */
function describeActionFailure(error: unknown): string {
  if (error instanceof GatehouseProblem && error.code === 'provider_check_failed') {
    return checkFailure(error);
  }
  if (error instanceof GatehouseProblem && error.detail !== undefined) {
    return `${describeProblem(error)}: ${error.detail}`;
  }
  return describeProblem(error);
}

/** What each provider check of the older answer verified, in words. */
const CHECK_LABELS: Readonly<Record<string, string>> = {
  issuer_scheme: 'The issuer is an https URL',
  discovery_failed: 'The discovery document was fetched',
  issuer_mismatch: 'The discovered issuer matches exactly',
  code_flow_unsupported: 'The authorization code flow is supported',
  pkce_unsupported: 'PKCE S256 is supported',
  jwks_unavailable: 'The JWKS was fetched',
  auth_method_unsupported: 'The token endpoint authentication method is supported',
  par_mismatch: 'Pushed authorization requests (PAR) fit the provider',
  id_token_alg_unsupported: 'The ID token signing algorithm is supported',
  credentials_rejected: 'The IdP accepted the client credentials',
};
