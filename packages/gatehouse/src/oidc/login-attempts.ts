import { problem, type GatehouseError } from '../errors.ts';
import type { KeyValueStore } from '../session/kv.ts';
import type { Vault } from '../session/vault.ts';

/**
 * A note of every login started, kept (sealed) well past its transaction: when a callback finds
 * no transaction, it tells an expired sign-in (started here, too long ago) from one already
 * completed (the Back button) and from one Gatehouse never started (a forged or mangled
 * `state`), and it keeps the return path so that "Try again" can go back there.
 */
export interface LoginAttempt {
  returnTo: string;
  /** Epoch ms. */
  startedAt: number;
}

/** How long the note outlives nothing else: a day covers a sign-in page left open overnight. */
export const LOGIN_ATTEMPT_NOTE_TTL_MS = 24 * 60 * 60 * 1000;

const key = (state: string) => `txnote:${state}`;

interface NoteDeps {
  transactions: KeyValueStore;
  vault: Vault;
}

/** The note, sealed (apart from its write, so that a login can seal everything at once). */
export function sealLoginAttempt(
  deps: Pick<NoteDeps, 'vault'>,
  attempt: LoginAttempt,
): Promise<string> {
  return deps.vault.seal(attempt);
}

/** Keeps the sealed note of the login that sent `state`. */
export async function noteLoginAttempt(
  deps: Pick<NoteDeps, 'transactions'>,
  state: string,
  sealed: string,
): Promise<void> {
  await deps.transactions.put(key(state), sealed, LOGIN_ATTEMPT_NOTE_TTL_MS);
}

/** The note of the login that sent this `state`, if Gatehouse started one (undefined otherwise). */
export async function loginAttempt(
  deps: NoteDeps,
  state: string | null | undefined,
): Promise<LoginAttempt | undefined> {
  if (!state || state.length > 512) return undefined;
  const sealed = await deps.transactions.get(key(state));
  if (!sealed) return undefined;
  return deps.vault.open<LoginAttempt>(sealed).catch(() => undefined);
}

/**
 * The refusal for a callback whose transaction is gone: `login_expired` when it was started
 * here more than `ttlMs` ago, `login_transaction_invalid` saying it was already completed when
 * it is younger, and the plain `login_transaction_invalid` when Gatehouse never started it.
 */
export async function missingTransaction(
  deps: NoteDeps & { clock: () => number },
  state: string | null,
  ttlMs: number,
): Promise<GatehouseError> {
  const attempt = await loginAttempt(deps, state).catch(() => undefined);
  if (!attempt) return problem('login_transaction_invalid');
  if (deps.clock() - attempt.startedAt >= ttlMs) return problem('login_expired');
  return problem('login_transaction_invalid', {
    detail: 'This sign-in was already completed or cancelled.',
  });
}
