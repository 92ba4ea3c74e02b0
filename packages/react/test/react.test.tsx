// @vitest-environment happy-dom
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { StrictMode, useState } from 'react';
import { createGatehouseClient } from '@gatehouse/client';
import type { GatehouseClient, GatehouseClientOptions } from '@gatehouse/client';
import {
  GatehouseProvider,
  SessionLoading,
  SignedIn,
  SignedOut,
  useApi,
  useExpiryWarning,
  useGatehouse,
  useSession,
  useUser,
} from '../src/index.ts';
import { fakeGatehouseFetch } from './fake-fetch.ts';

const clients: GatehouseClient[] = [];
afterEach(() => {
  cleanup();
  for (const client of clients.splice(0)) client.dispose();
});

function makeClient(
  fake: ReturnType<typeof fakeGatehouseFetch>,
  options: GatehouseClientOptions = {},
) {
  const navigations: string[] = [];
  const client = createGatehouseClient({
    fetch: fake.fetch,
    navigate: (url) => navigations.push(url),
    channelName: `react-test-${crypto.randomUUID()}`,
    ...options,
  });
  clients.push(client);
  return { client, navigations };
}

function Status() {
  const state = useSession();
  const user = useUser();
  return (
    <>
      <p data-testid="status">{state.status}</p>
      <p data-testid="reason">{state.status === 'signed-out' ? (state.reason ?? 'none') : ''}</p>
      <p data-testid="user">{user?.claims.name ?? ''}</p>
      <SessionLoading>
        <p>Checking your session…</p>
      </SessionLoading>
      <SignedIn>{(signedIn) => <p>{`Hello ${signedIn.claims.name ?? ''}`}</p>}</SignedIn>
      <SignedOut>
        <p>Please sign in</p>
      </SignedOut>
    </>
  );
}

function ApiButton() {
  const apiFetch = useApi();
  const [answer, setAnswer] = useState('');
  return (
    <>
      <button
        type="button"
        onClick={() => {
          void apiFetch('/api/demo/me').then(async (response) =>
            setAnswer(`${response.status} ${await response.text()}`),
          );
        }}
      >
        Call API
      </button>
      <p data-testid="answer">{answer}</p>
    </>
  );
}

describe('<GatehouseProvider> and useSession / useUser', () => {
  it('starts loading, then shows signed-out on a first visit', async () => {
    const fake = fakeGatehouseFetch();
    const { client } = makeClient(fake);
    render(
      <GatehouseProvider client={client}>
        <Status />
      </GatehouseProvider>,
    );
    expect(screen.getByTestId('status').textContent).toBe('loading');
    expect(screen.getByText('Checking your session…')).toBeTruthy();
    expect(screen.queryByText('Please sign in')).toBeNull();
    await screen.findByText('Please sign in');
    expect(screen.getByTestId('status').textContent).toBe('signed-out');
    expect(screen.getByTestId('reason').textContent).toBe('none');
    expect(screen.queryByText('Checking your session…')).toBeNull();
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /bff/user']);
  });

  it('shows the signed-in user through useUser and <SignedIn>', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Alice Anderson');
    const { client } = makeClient(fake);
    render(
      <GatehouseProvider client={client}>
        <Status />
      </GatehouseProvider>,
    );
    await screen.findByText('Hello Alice Anderson');
    expect(screen.getByTestId('user').textContent).toBe('Alice Anderson');
    expect(screen.queryByText('Please sign in')).toBeNull();
  });

  it('stays loading and reports the error when Gatehouse cannot answer the first check', async () => {
    const fake = fakeGatehouseFetch();
    fake.failUserChecks(true);
    const { client } = makeClient(fake);
    const errors: unknown[] = [];
    render(
      <GatehouseProvider client={client} onError={(error) => errors.push(error)}>
        <Status />
      </GatehouseProvider>,
    );
    await waitFor(() => expect(errors).toHaveLength(1));
    expect(errors[0]).toMatchObject({ name: 'GatehouseProblem', status: 503 });
    expect(screen.getByTestId('status').textContent).toBe('loading');
  });

  it('asks once in StrictMode, which mounts the provider twice in development', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Alice Anderson');
    const { client } = makeClient(fake);
    render(
      <StrictMode>
        <GatehouseProvider client={client}>
          <Status />
        </GatehouseProvider>
      </StrictMode>,
    );
    await screen.findByText('Hello Alice Anderson');
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /bff/user']);
  });

  it('in StrictMode, reports a failed first check once', async () => {
    const fake = fakeGatehouseFetch();
    fake.failUserChecks(true);
    const { client } = makeClient(fake);
    const errors: unknown[] = [];
    render(
      <StrictMode>
        <GatehouseProvider client={client} onError={(error) => errors.push(error)}>
          <Status />
        </GatehouseProvider>
      </StrictMode>,
    );
    await waitFor(() => expect(errors).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toHaveLength(1);
    expect(fake.requests).toHaveLength(1);
  });

  it('asks again when the provider mounts again after the first check answered', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Alice Anderson');
    const { client } = makeClient(fake);
    const app = (
      <GatehouseProvider client={client}>
        <Status />
      </GatehouseProvider>
    );
    const first = render(app);
    await screen.findByText('Hello Alice Anderson');
    first.unmount();
    render(app);
    await waitFor(() => expect(fake.requests).toHaveLength(2));
  });

  it('refuses hooks used outside a provider with a message that says what is missing', () => {
    const Lonely = () => <p>{useSession().status}</p>;
    // React reports the render error to the console too; keep the test output clean.
    const original = console.error;
    console.error = () => {};
    try {
      expect(() => render(<Lonely />)).toThrow(/need a <GatehouseProvider client=\{…\}> above/);
    } finally {
      console.error = original;
    }
  });
});

describe('login and logout from components', () => {
  it('login() with the client’s defaultTenant navigates to /bff/login for that tenant', async () => {
    const fake = fakeGatehouseFetch();
    const { client, navigations } = makeClient(fake, { defaultTenant: 'acme' });
    function SignInButton() {
      const gatehouse = useGatehouse() as GatehouseClient<true>;
      return (
        <button type="button" onClick={() => gatehouse.login({ returnTo: '/notes' })}>
          Sign in
        </button>
      );
    }
    render(
      <GatehouseProvider client={client}>
        <SignedOut>
          <SignInButton />
        </SignedOut>
      </GatehouseProvider>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Sign in' }));
    expect(navigations).toEqual(['/bff/login?returnTo=%2Fnotes&tenant=acme']);
  });

  it('logout() shows signed-out with reason "logout" and navigates to the logout link', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Bob Brown');
    const { client, navigations } = makeClient(fake);
    function SignOutButton() {
      const gatehouse = useGatehouse();
      return (
        <button type="button" onClick={() => void gatehouse.logout()}>
          Sign out
        </button>
      );
    }
    render(
      <GatehouseProvider client={client}>
        <Status />
        <SignedIn>
          <SignOutButton />
        </SignedIn>
      </GatehouseProvider>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    await screen.findByText('Please sign in');
    expect(screen.getByTestId('reason').textContent).toBe('logout');
    expect(navigations).toEqual(['/bff/logout?sid=handle-1']);
    // No script fetches /bff/logout: its redirect to the IdP is the browser's alone.
    expect(fake.requests.find((r) => r.path === '/bff/logout')).toBeUndefined();
  });
});

describe('useApi', () => {
  it('calls the API with X-CSRF: 1 and the session cookie, and shows the answer', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Alice Anderson');
    const { client } = makeClient(fake);
    render(
      <GatehouseProvider client={client}>
        <ApiButton />
      </GatehouseProvider>,
    );
    await waitFor(() => expect(client.state.status).toBe('signed-in'));
    fireEvent.click(screen.getByRole('button', { name: 'Call API' }));
    await waitFor(() =>
      expect(screen.getByTestId('answer').textContent).toBe('200 {"sub":"alice anderson"}'),
    );
    const call = fake.requests.find((r) => r.path === '/api/demo/me');
    expect(call?.headers.get('x-csrf')).toBe('1');
    expect(call?.credentials).toBe('same-origin');
  });

  it('signs the UI out with reason "expired" when Gatehouse answers session_expired', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Alice Anderson');
    const { client } = makeClient(fake);
    render(
      <GatehouseProvider client={client}>
        <Status />
        <ApiButton />
      </GatehouseProvider>,
    );
    await screen.findByText('Hello Alice Anderson');
    fake.expire();
    fireEvent.click(screen.getByRole('button', { name: 'Call API' }));
    await screen.findByText('Please sign in');
    expect(screen.getByTestId('reason').textContent).toBe('expired');
    expect(screen.queryByText('Hello Alice Anderson')).toBeNull();
  });
});

describe('cross-tab sync and expiry', () => {
  it('a logout in one tab signs the other tab’s UI out', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Carol Clark');
    const channelName = `react-tabs-${crypto.randomUUID()}`;
    const first = makeClient(fake, { channelName }).client;
    const second = makeClient(fake, { channelName }).client;
    render(
      <GatehouseProvider client={second}>
        <Status />
      </GatehouseProvider>,
    );
    await screen.findByText('Hello Carol Clark');
    await first.refresh();
    await act(() => first.logout());
    await screen.findByText('Please sign in');
    expect(screen.getByTestId('reason').textContent).toBe('logout');
  });

  it('a sign-in in another tab shows the user without a reload', async () => {
    const fake = fakeGatehouseFetch();
    const channelName = `react-tabs-${crypto.randomUUID()}`;
    const other = makeClient(fake, { channelName }).client;
    const { client } = makeClient(fake, { channelName });
    render(
      <GatehouseProvider client={client}>
        <Status />
      </GatehouseProvider>,
    );
    await screen.findByText('Please sign in');
    fake.signIn('Dave Davis');
    await act(() => other.refresh());
    await screen.findByText('Hello Dave Davis');
  });

  it('shows the warning in a component mounted after it fired', async () => {
    const fake = fakeGatehouseFetch();
    fake.signIn('Alice Anderson', new Date(Date.now() + 30_000).toISOString());
    const { client } = makeClient(fake, { expiryWarningSeconds: 60 });
    const fired = new Promise<void>((resolve) => client.onExpiryWarning(() => resolve()));
    function Warning() {
      const secondsLeft = useExpiryWarning();
      return <p data-testid="warning">{secondsLeft === undefined ? '' : `${secondsLeft}s`}</p>;
    }
    const app = (later: boolean) => (
      <GatehouseProvider client={client}>
        <Status />
        {later ? <Warning /> : null}
      </GatehouseProvider>
    );
    const view = render(app(false));
    await screen.findByText('Hello Alice Anderson');
    await fired;
    // Another screen opens, with a banner that reads the warning: it is still in force.
    view.rerender(app(true));
    await waitFor(() => expect(screen.getByTestId('warning').textContent).toMatch(/^(29|30)s$/));
  });

  it('warns before the session expires, then shows signed-out with reason "expired"', async () => {
    const fake = fakeGatehouseFetch();
    // Warned 2 s before an expiry 3 s away: a busy machine may run the timer late, not that late.
    fake.signIn('Alice Anderson', new Date(Date.now() + 3_000).toISOString());
    const { client } = makeClient(fake, { expiryWarningSeconds: 2 });
    function Warning() {
      const secondsLeft = useExpiryWarning();
      return <p data-testid="warning">{secondsLeft === undefined ? '' : `${secondsLeft}s`}</p>;
    }
    render(
      <GatehouseProvider client={client}>
        <Status />
        <Warning />
      </GatehouseProvider>,
    );
    await screen.findByText('Hello Alice Anderson');
    await waitFor(() => expect(screen.getByTestId('warning').textContent).toMatch(/^[12]s$/), {
      timeout: 10_000,
    });
    fake.expire();
    await screen.findByText('Please sign in', {}, { timeout: 10_000 });
    expect(screen.getByTestId('reason').textContent).toBe('expired');
    expect(screen.getByTestId('warning').textContent).toBe('');
    // The expiry re-check never extends the session.
    expect(fake.requests.filter((r) => r.path === '/bff/user?slide=false').length).toBeGreaterThan(
      0,
    );
  });
});
