import type { GatehouseClient } from '@gatehouse/client';
import { useState } from 'react';
import type { FormEvent } from 'react';

/**
 * "Sign in" with the default tenant, or by email for home-realm discovery.
 *
 * "Continue" is a plain navigation to `/bff/login?email=…`: the server goes straight to the
 * tenant's provider, or to `/t/<tenant>` when it has several. An unknown domain answers 400
 * `unknown_email_domain`, which the server renders for navigations as an escaped error page
 * reading "No organisation signs in with this email address." (with a link back). No fetch
 * pre-check: `/bff/login` starts a login transaction, so probing it would start a second one.
 */
export function SignInPanel({ client }: { client: GatehouseClient<true> }) {
  const [email, setEmail] = useState('');

  function continueWithEmail(event: FormEvent<HTMLFormElement>): void {
    event.preventDefault();
    const trimmed = email.trim();
    if (trimmed !== '') client.login({ email: trimmed });
  }

  return (
    <div className="sign-in">
      <button type="button" onClick={() => client.login()}>
        Sign in
      </button>
      <form className="hrd" onSubmit={continueWithEmail}>
        <label htmlFor="hrd-email">Email</label>
        <div className="hrd__row">
          <input
            id="hrd-email"
            name="email"
            type="email"
            autoComplete="email"
            placeholder="you@company.example"
            required
            value={email}
            onChange={(event) => setEmail(event.target.value)}
          />
          <button type="submit" className="button--secondary">
            Continue
          </button>
        </div>
        <p className="hint">We find your organisation&apos;s sign-in from your email domain.</p>
      </form>
    </div>
  );
}
