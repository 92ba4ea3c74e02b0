import type { SignedOutReason } from './types.ts';

/** What tabs of the same app tell each other. Nothing token-like is ever sent. */
export type TabMessage = { type: 'signed-in' } | { type: 'signed-out'; reason?: SignedOutReason };

export interface TabChannel {
  post(message: TabMessage): void;
  close(): void;
}

const REASONS: readonly string[] = ['logout', 'expired', 'unauthenticated'];

/** Opens the BroadcastChannel `name`; a no-op channel where the platform has none. */
export function openTabChannel(name: string, onMessage: (message: TabMessage) => void): TabChannel {
  if (typeof BroadcastChannel === 'undefined') return { post() {}, close() {} };
  const channel = new BroadcastChannel(name);
  // Node has BroadcastChannel too, and an open one keeps the process running: a client made at
  // import time would hang a server render or a script. Listening for other tabs is no reason to
  // stay alive. Browsers have no `unref` (nothing to do there).
  (channel as BroadcastChannel & { unref?: () => void }).unref?.();
  let open = true;
  channel.addEventListener('message', (event: MessageEvent) => {
    const message = parseTabMessage(event.data);
    if (message && open) onMessage(message);
  });
  return {
    post(message) {
      if (open) channel.postMessage(message);
    },
    close() {
      open = false;
      channel.close();
    },
  };
}

// Any script of the same origin may post on the channel: accept only the two known shapes.
function parseTabMessage(data: unknown): TabMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { type, reason } = data as { type?: unknown; reason?: unknown };
  if (type === 'signed-in') return { type };
  if (type !== 'signed-out') return undefined;
  return typeof reason === 'string' && REASONS.includes(reason)
    ? { type, reason: reason as SignedOutReason }
    : { type };
}
