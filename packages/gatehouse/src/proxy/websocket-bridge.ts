import { WebSocket, type RawData } from 'ws';

/** Close codes Gatehouse itself sends on a proxied WebSocket (the README lists them). */
export const CLOSE = {
  /** The server is shutting down (drain): reconnect, to another instance. */
  goingAway: 1001,
  /** A message larger than the route's limit (sent by `ws` itself). */
  tooBig: 1009,
  /** The upstream leg failed or was cut without a close frame. */
  badGateway: 1014,
  /** The session ended (logout, back-channel logout, an admin, expiry): sign in again. */
  sessionEnded: 4401,
  /** No message either way for the route's idle timeout. */
  idle: 4408,
} as const;

export interface BridgeLimits {
  /** No data message either way for this long closes both legs with 4408. */
  idleTimeoutMs: number;
  /** Both legs are pinged this often; a leg that did not answer the previous ping is cut. */
  pingIntervalMs: number;
  /** After Gatehouse starts a close, how long the peers get to answer it before being cut. */
  closeTimeoutMs?: number;
  /** Bytes queued towards one leg above which the other leg is paused (default 1 MiB). */
  highWaterBytes?: number;
}

export type Leg = 'client' | 'upstream' | 'gatehouse';

/** How a bridged socket ended, for the log. */
export interface BridgeEnd {
  /** The close code the client leg ended with. */
  code: number;
  /** Who ended it. */
  by: Leg;
  messages: { fromClient: number; fromUpstream: number };
}

export interface Bridge {
  /** Closes both legs with `code` (Gatehouse's own decision: session ended, idle, drain). */
  close(code: number, reason: string): void;
  /** Whether the client sent a data message since the last call (then resets it). */
  takeClientActivity(): boolean;
  /** Legs paused now because the other one has not written out what they sent (0–2). */
  readonly pausedLegs: number;
}

const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
const DEFAULT_HIGH_WATER_BYTES = 1024 * 1024;

/** Whether `code` may be sent in a close frame (RFC 6455 7.4; 1005, 1006, 1015 may not). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/**
 * Joins an accepted browser socket and an open upstream socket: messages both ways with their
 * text/binary kind, backpressure (the side that outruns the other is paused until what it sent
 * is written), an idle timeout, ping/pong keep-alive on both legs, and closes carried across
 * (an upstream that vanishes without a close frame becomes 1014 for the browser). `onEnd` is
 * called once, when both legs are closed. No framing here: `ws` does all of it.
 */
export function bridgeSockets(
  client: WebSocket,
  upstream: WebSocket,
  limits: BridgeLimits,
  onEnd: (end: BridgeEnd) => void,
): Bridge {
  const closeTimeoutMs = limits.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  const highWater = limits.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
  const messages = { fromClient: 0, fromUpstream: 0 };
  const alive = new Map<WebSocket, boolean>([
    [client, true],
    [upstream, true],
  ]);
  let clientActive = false;
  let endedBy: Leg | undefined;
  let clientCode: number | undefined;
  let cutTimer: NodeJS.Timeout | undefined;

  const idleTimer = setTimeout(() => closeBoth(CLOSE.idle, 'idle timeout'), limits.idleTimeoutMs);
  idleTimer.unref();
  const pingTimer = setInterval(() => {
    for (const leg of [client, upstream]) {
      if (leg.readyState !== WebSocket.OPEN) continue;
      // A leg we do not read (paused) cannot answer, nor one still taking in a backlog: its
      // pong waits behind the data. Those are bounded by the idle timeout instead.
      const busy = leg.isPaused || leg.bufferedAmount > 0;
      if (!alive.get(leg) && !busy) {
        leg.terminate();
        continue;
      }
      alive.set(leg, false);
      leg.ping();
    }
  }, limits.pingIntervalMs);
  pingTimer.unref();

  const forward = (from: WebSocket, to: WebSocket) => (data: RawData, isBinary: boolean) => {
    alive.set(from, true);
    if (from === client) {
      messages.fromClient += 1;
      clientActive = true;
    } else {
      messages.fromUpstream += 1;
    }
    idleTimer.refresh();
    if (to.readyState !== WebSocket.OPEN) return;
    to.send(data, { binary: isBinary }, () => {
      // Written out (or failed: the close handling follows): let the paused side go on.
      if (from.isPaused && to.bufferedAmount < highWater / 2) from.resume();
    });
    if (to.bufferedAmount >= highWater && !from.isPaused) from.pause();
  };
  client.on('message', forward(client, upstream));
  upstream.on('message', forward(upstream, client));

  for (const leg of [client, upstream]) {
    leg.on('pong', () => alive.set(leg, true));
    // `ws` closes the leg itself after an error (1009 for a too large message, 1002 for a
    // protocol error); the 'close' that follows carries it across.
    leg.on('error', () => undefined);
  }

  client.on('close', (code, reason) => {
    clientCode = code;
    // A paused leg could not read the close frame that answers ours.
    if (upstream.isPaused) upstream.resume();
    endedBy ??= 'client';
    // As the browser closed: its code and reason, no code when it sent none (1005), and "going
    // away" only when it vanished without a close frame (1006).
    if (upstream.readyState === WebSocket.OPEN || upstream.readyState === WebSocket.CONNECTING) {
      if (code === 1005) upstream.close();
      else if (isSendableCloseCode(code)) upstream.close(code, reason);
      else upstream.close(CLOSE.goingAway, 'client went away');
    }
    finish();
  });
  upstream.on('close', (code, reason) => {
    endedBy ??= 'upstream';
    if (client.isPaused) client.resume();
    if (client.readyState === WebSocket.OPEN) {
      if (code === 1005) client.close();
      else if (isSendableCloseCode(code)) client.close(code, reason);
      else client.close(CLOSE.badGateway, 'upstream connection lost');
    }
    finish();
  });

  function closeBoth(code: number, reason: string): void {
    endedBy ??= 'gatehouse';
    for (const leg of [client, upstream]) {
      if (leg.isPaused) leg.resume();
      if (leg.readyState === WebSocket.OPEN || leg.readyState === WebSocket.CONNECTING) {
        leg.close(code, reason);
      }
    }
    // A peer that does not answer the close frame is cut (`ws` alone would wait 30 s).
    cutTimer ??= setTimeout(() => {
      client.terminate();
      upstream.terminate();
    }, closeTimeoutMs);
    cutTimer.unref();
  }

  let finished = false;
  function finish(): void {
    if (finished) return;
    if (client.readyState !== WebSocket.CLOSED || upstream.readyState !== WebSocket.CLOSED) {
      // The other leg's close is under way; cut it if it hangs.
      cutTimer ??= setTimeout(() => {
        client.terminate();
        upstream.terminate();
      }, closeTimeoutMs);
      cutTimer.unref();
      return;
    }
    finished = true;
    clearTimeout(idleTimer);
    clearInterval(pingTimer);
    clearTimeout(cutTimer);
    onEnd({ code: clientCode ?? 1006, by: endedBy ?? 'gatehouse', messages });
  }

  return {
    close: closeBoth,
    takeClientActivity() {
      const active = clientActive;
      clientActive = false;
      return active;
    },
    get pausedLegs() {
      return Number(client.isPaused) + Number(upstream.isPaused);
    },
  };
}
