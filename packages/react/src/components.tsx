import type { ReactNode } from 'react';
import type { GatehouseUser, SignedOutReason } from '@gatehouse/client';
import { useSession } from './hooks.ts';

export interface SignedInProps {
  /** Rendered while signed in; a function gets the user. */
  children?: ReactNode | ((user: GatehouseUser) => ReactNode);
}

/** Renders its children only while a user is signed in (not while loading). */
export function SignedIn({ children }: SignedInProps): ReactNode {
  const state = useSession();
  if (state.status !== 'signed-in') return null;
  return typeof children === 'function' ? children(state.user) : children;
}

export interface SignedOutProps {
  /** Rendered while signed out; a function gets the reason (`undefined` on a first visit). */
  children?: ReactNode | ((reason: SignedOutReason | undefined) => ReactNode);
}

/** Renders its children only once the client knows nobody is signed in (not while loading). */
export function SignedOut({ children }: SignedOutProps): ReactNode {
  const state = useSession();
  if (state.status !== 'signed-out') return null;
  return typeof children === 'function' ? children(state.reason) : children;
}

/** Renders its children until the first session check has answered. */
export function SessionLoading({ children }: { children?: ReactNode }): ReactNode {
  return useSession().status === 'loading' ? children : null;
}
