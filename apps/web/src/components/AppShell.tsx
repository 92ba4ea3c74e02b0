import type { GatehouseUser } from '@gatehouse/client';
import { useEffect, useId, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { displayName } from '../format.ts';
import { Link } from '../router.tsx';

const NAVIGATION = [
  { to: '/', label: 'Account' },
  { to: '/sessions', label: 'Sessions' },
  { to: '/admin', label: 'Admin console' },
] as const;

/**
 * The frame of every screen: a header with the product, the user's organisation, the
 * navigation and the user menu (signed in only), banners, then the page.
 */
export function AppShell(props: {
  pathname: string;
  user: GatehouseUser | undefined;
  tenantName: string | undefined;
  banners: ReactNode;
  onSignOut: () => void;
  signingOut: boolean;
  children: ReactNode;
}) {
  const { user } = props;
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar__inner">
          <Link to="/" className="brand">
            <span className="brand__mark" aria-hidden="true">
              G
            </span>
            <span className="brand__name">Gatehouse</span>
            <span className="visually-hidden"> home</span>
            {user !== undefined && (
              <span className="brand__tenant" data-testid="shell-tenant">
                {props.tenantName ?? user.tenant}
              </span>
            )}
          </Link>
          {user !== undefined && (
            <>
              <nav className="nav" aria-label="Main">
                {NAVIGATION.map((item) => (
                  <Link
                    key={item.to}
                    to={item.to}
                    className="nav__link"
                    aria-current={isCurrent(props.pathname, item.to) ? 'page' : undefined}
                  >
                    {item.label}
                  </Link>
                ))}
              </nav>
              <UserMenu user={user} onSignOut={props.onSignOut} signingOut={props.signingOut} />
            </>
          )}
        </div>
      </header>
      {props.banners}
      <main id="main" className="content" tabIndex={-1}>
        {props.children}
      </main>
    </div>
  );
}

function isCurrent(pathname: string, to: string): boolean {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  return path === to;
}

function initials(name: string): string {
  const letters = name
    .split(/[\s@._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0]?.toUpperCase() ?? '');
  return letters.join('') || '?';
}

/**
 * A disclosure (button + panel of links): Escape or a click elsewhere closes it and focus goes
 * back to the button. Not an ARIA menu: its items are ordinary links and one button.
 */
function UserMenu(props: { user: GatehouseUser; onSignOut: () => void; signingOut: boolean }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const root = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  const name = displayName(props.user);
  const email = typeof props.user.claims.email === 'string' ? props.user.claims.email : undefined;

  useEffect(() => {
    if (!open) return;
    function onKey(event: KeyboardEvent): void {
      if (event.key !== 'Escape') return;
      setOpen(false);
      button.current?.focus();
    }
    function onPointer(event: PointerEvent): void {
      if (event.target instanceof Node && root.current?.contains(event.target)) return;
      setOpen(false);
    }
    document.addEventListener('keydown', onKey);
    document.addEventListener('pointerdown', onPointer);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('pointerdown', onPointer);
    };
  }, [open]);

  return (
    <div className="user-menu" ref={root}>
      <button
        ref={button}
        type="button"
        className="user-menu__button"
        aria-expanded={open}
        aria-controls={panelId}
        data-testid="user-menu"
        onClick={() => setOpen((value) => !value)}
      >
        <span className="avatar" aria-hidden="true">
          {initials(name)}
        </span>
        <span className="visually-hidden">Account menu: </span>
        <span className="user-menu__name">{name}</span>
        <span className="user-menu__caret" aria-hidden="true">
          ▾
        </span>
      </button>
      <div id={panelId} className="user-menu__panel" hidden={!open}>
        <div className="user-menu__who">
          <strong>{name}</strong>
          {email !== undefined && email !== name && <span className="muted">{email}</span>}
        </div>
        <ul className="user-menu__list">
          {NAVIGATION.map((item) => (
            <li key={item.to}>
              <Link to={item.to} className="user-menu__item" onClick={() => setOpen(false)}>
                {item.label}
              </Link>
            </li>
          ))}
        </ul>
        <div className="user-menu__separator" />
        <button
          type="button"
          className="user-menu__item"
          onClick={props.onSignOut}
          disabled={props.signingOut}
        >
          Sign out
        </button>
      </div>
    </div>
  );
}
