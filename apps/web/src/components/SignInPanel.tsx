import type { GatehouseClient } from '@gatehouse/client';
import { GatehouseProblem } from '@gatehouse/client';
import { useId, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { explainProblem, type Explanation } from '../messages.ts';
import { ProblemNotice } from './ProblemNotice.tsx';

type Check =
  | { kind: 'idle' }
  | { kind: 'checking' }
  | { kind: 'unknown-domain'; domain: string }
  | { kind: 'failed'; explanation: Explanation };

/**
 * "Sign in" with the default tenant, or by email for home-realm discovery.
 *
 * "Continue" first asks `GET /bff/home-realm?email=…` (JSON, starts no login) which organisation
 * signs in this address: an unknown domain is said next to the field, which keeps what was
 * typed; a known one navigates to `/bff/login` with that tenant and the email as login hint.
 */
export function SignInPanel({ client }: { client: GatehouseClient<true> }) {
  const [email, setEmail] = useState('');
  const [check, setCheck] = useState<Check>({ kind: 'idle' });
  const input = useRef<HTMLInputElement>(null);
  const errorId = useId();
  const hintId = useId();

  function continueWithEmail(event?: FormEvent<HTMLFormElement>): void {
    event?.preventDefault();
    const trimmed = email.trim();
    if (trimmed === '') return;
    setCheck({ kind: 'checking' });
    findTenant(trimmed).then(
      (tenant) => client.login({ tenant, email: trimmed }),
      (error: unknown) => {
        if (error instanceof GatehouseProblem && error.code === 'unknown_email_domain') {
          setCheck({ kind: 'unknown-domain', domain: trimmed.split('@').pop() ?? trimmed });
          input.current?.focus();
        } else {
          setCheck({ kind: 'failed', explanation: explainProblem(error) });
        }
      },
    );
  }

  const unknown = check.kind === 'unknown-domain';
  return (
    <div className="sign-in">
      <button type="button" className="sign-in__primary" onClick={() => client.login()}>
        Sign in
      </button>
      <p className="divider">or find your organisation</p>
      <form className="hrd" onSubmit={continueWithEmail} noValidate>
        <label htmlFor="hrd-email">Work email</label>
        <div className="hrd__row">
          <input
            ref={input}
            id="hrd-email"
            name="email"
            type="email"
            autoComplete="email"
            inputMode="email"
            placeholder="you@company.example"
            required
            value={email}
            aria-invalid={unknown}
            aria-describedby={unknown ? `${errorId} ${hintId}` : hintId}
            onChange={(event) => {
              setEmail(event.target.value);
              if (check.kind === 'unknown-domain') setCheck({ kind: 'idle' });
            }}
          />
          <button
            type="submit"
            className="button--secondary"
            disabled={check.kind === 'checking'}
            aria-busy={check.kind === 'checking'}
          >
            Continue
          </button>
        </div>
        {unknown && (
          <p id={errorId} className="field-error" role="alert" data-testid="unknown-domain">
            {`No organisation signs in with “${check.domain}”. Check the address, or use “Sign in” above.`}
          </p>
        )}
        <p id={hintId} className="hint">
          We find your organisation&apos;s sign-in from your email domain.
        </p>
      </form>
      {check.kind === 'failed' && (
        <ProblemNotice
          explanation={check.explanation}
          testId="sign-in-error"
          context="We could not look up your organisation."
          onRetry={() => continueWithEmail()}
        />
      )}
    </div>
  );
}

/** `GET /bff/home-realm?email=…` → the tenant id; a problem (e.g. `unknown_email_domain`) throws. */
async function findTenant(email: string): Promise<string> {
  const response = await fetch(`/bff/home-realm?${new URLSearchParams({ email }).toString()}`, {
    headers: { accept: 'application/json' },
    credentials: 'same-origin',
  });
  const body = (await response.json().catch(() => undefined)) as
    { tenant?: unknown; code?: unknown; title?: unknown; detail?: unknown } | undefined;
  if (response.ok && typeof body?.tenant === 'string') return body.tenant;
  throw new GatehouseProblem({
    type: 'about:blank',
    title: typeof body?.title === 'string' ? body.title : response.statusText,
    status: response.status,
    code: typeof body?.code === 'string' ? body.code : 'invalid_response',
    ...(typeof body?.detail === 'string' ? { detail: body.detail } : {}),
  });
}
