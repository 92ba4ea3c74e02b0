import type { Request } from 'express';

/** Reads one cookie from the Cookie header (first occurrence wins, as browsers order them). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index !== -1 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

export interface CookieNames {
  session: string;
  loginBinding: string;
}

/** `__Host-` prefixed names when served over https (the prefix requires Secure, Path=/, no Domain). */
export function cookieNames(secure: boolean): CookieNames {
  const prefix = secure ? '__Host-' : '';
  return { session: `${prefix}gatehouse`, loginBinding: `${prefix}gatehouse-login` };
}

/**
 * Whether a `Set-Cookie` line names one of Gatehouse's own cookies: an upstream allowed to set
 * cookies must still never plant a session or login-binding cookie (session fixation).
 */
export function setsGatehouseCookie(setCookie: string): boolean {
  const name = setCookie.slice(0, setCookie.indexOf('=')).trim();
  return /^(?:__host-|__secure-)?gatehouse(?:-login)?$/i.test(name);
}

/** A short human summary of the user agent for the sessions page ("Chrome on Linux"). */
export function deviceSummary(userAgent: string | undefined): string {
  if (!userAgent) return 'Unknown device';
  const browser = (
    [
      [/Edg\//, 'Edge'],
      [/Firefox\//, 'Firefox'],
      [/Chrome\/|Chromium\//, 'Chrome'],
      [/Safari\//, 'Safari'],
    ] as const
  ).find(([pattern]) => pattern.test(userAgent))?.[1];
  const os = (
    [
      [/Windows/, 'Windows'],
      [/Android/, 'Android'],
      [/iPhone|iPad/, 'iOS'],
      [/Mac OS X/, 'macOS'],
      [/Linux/, 'Linux'],
    ] as const
  ).find(([pattern]) => pattern.test(userAgent))?.[1];
  if (!browser && !os) return 'Unknown device';
  return `${browser ?? 'Browser'} on ${os ?? 'unknown OS'}`;
}
