import type { GatehouseClient } from '@gatehouse/client';
import { useState } from 'react';
import { explainProblem, explainResponse, type Explanation } from '../messages.ts';
import { ProblemNotice } from './ProblemNotice.tsx';

const DEMO_API_PATH = '/api/demo/me';

type Outcome =
  { kind: 'ok'; status: number; body: string } | { kind: 'error'; explanation: Explanation };

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
    <section className="tool api" aria-labelledby="api-heading">
      <h3 id="api-heading">Call the demo API</h3>
      <p className="hint">
        <code>GET {DEMO_API_PATH}</code> through Gatehouse, which adds your access token.
      </p>
      <button type="button" onClick={callApi} aria-busy={busy} disabled={busy}>
        Call API
      </button>
      {outcome?.kind === 'ok' && (
        <>
          <p className="api-status" role="status">
            {`Answered ${outcome.status}`}
          </p>
          <pre data-testid="api-result" className="code">
            {outcome.body}
          </pre>
        </>
      )}
      {outcome?.kind === 'error' && (
        <ProblemNotice
          explanation={outcome.explanation}
          testId="api-error"
          context="The API call failed."
          onRetry={callApi}
        />
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
    if (response.ok) return { kind: 'ok', status: response.status, body: prettyJson(text) };
    return { kind: 'error', explanation: explainResponse(response.status, problemCode(response)) };
  } catch (error) {
    return { kind: 'error', explanation: explainProblem(error) };
  }
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/**
 * Gatehouse's own verdict: its `Gatehouse-Problem` header, which the proxy never passes through
 * from an upstream (an API's own error is explained by its status alone).
 */
function problemCode(response: Response): string | undefined {
  return response.headers.get('gatehouse-problem') ?? undefined;
}
