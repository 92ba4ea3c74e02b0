import type { GatehouseClient } from '@gatehouse/client';
import { useState } from 'react';
import { describeProblem } from '../format.ts';

const DEMO_API_PATH = '/api/demo/me';

type Outcome =
  { kind: 'ok'; body: string } | { kind: 'error'; message: string; body: string | undefined };

/** "Call API": one request to the demo API through the BFF, answer shown as pretty JSON. */
export function ApiCaller({ client }: { client: GatehouseClient }) {
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  function callApi(): void {
    setBusy(true);
    void callDemoApi(client)
      .then(setOutcome)
      .finally(() => setBusy(false));
  }

  return (
    <section className="api" aria-label="API call">
      <button type="button" onClick={callApi} aria-busy={busy}>
        Call API
      </button>
      {outcome?.kind === 'ok' && (
        <pre data-testid="api-result" className="code">
          {outcome.body}
        </pre>
      )}
      {outcome?.kind === 'error' && (
        <div role="alert" data-testid="api-error" className="notice notice--error">
          <p>API call failed: {outcome.message}</p>
          {outcome.body !== undefined && <pre className="code">{outcome.body}</pre>}
        </div>
      )}
    </section>
  );
}

async function callDemoApi(client: GatehouseClient): Promise<Outcome> {
  try {
    const response = await client.apiFetch(DEMO_API_PATH, {
      headers: { accept: 'application/json' },
    });
    const text = await response.text();
    const body = prettyJson(text);
    if (response.ok) return { kind: 'ok', body };
    return { kind: 'error', message: describeHttpFailure(response, text), body: body || undefined };
  } catch (error) {
    return { kind: 'error', message: describeProblem(error), body: undefined };
  }
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** "502 Bad Gateway (upstream_unavailable)" from a problem+json body when there is one. */
function describeHttpFailure(response: Response, text: string): string {
  let title = response.statusText;
  let code: string | undefined;
  try {
    const problem = JSON.parse(text) as { title?: unknown; code?: unknown };
    if (typeof problem.title === 'string') title = problem.title;
    if (typeof problem.code === 'string') code = problem.code;
  } catch {
    // Not JSON: the status line says enough.
  }
  return `${response.status}${title ? ` ${title}` : ''}${code ? ` (${code})` : ''}`;
}
