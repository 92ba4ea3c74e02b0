import { useSyncExternalStore } from 'react';
import type { AnchorHTMLAttributes, MouseEvent, ReactNode } from 'react';

/** The current `location.pathname`, re-rendering on back/forward and on `navigateTo`. */
export function usePathname(): string {
  return useSyncExternalStore(subscribeToHistory, () => location.pathname);
}

function subscribeToHistory(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  return () => window.removeEventListener('popstate', onChange);
}

/** Client-side navigation within the SPA (History API, no reload). */
export function navigateTo(path: string): void {
  history.pushState(null, '', path);
  // pushState fires nothing by itself; reuse popstate so there is one change signal.
  window.dispatchEvent(new PopStateEvent('popstate'));
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & {
  to: string;
  children: ReactNode;
};

/** A real `<a href>` (middle-click, copy link work) that navigates in-app on a plain click. */
export function Link({ to, children, onClick, ...rest }: LinkProps) {
  function handleClick(event: MouseEvent<HTMLAnchorElement>): void {
    onClick?.(event);
    const modified = event.metaKey || event.ctrlKey || event.shiftKey || event.altKey;
    if (event.defaultPrevented || event.button !== 0 || modified) return;
    event.preventDefault();
    navigateTo(to);
  }
  return (
    <a href={to} onClick={handleClick} {...rest}>
      {children}
    </a>
  );
}
