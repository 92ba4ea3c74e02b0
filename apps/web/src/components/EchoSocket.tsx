import { useEffect, useRef, useState } from 'react';

/** The dev config's WebSocket route: the demo API's echo behind `/api/demo`. */
const ECHO_PATH = '/api/demo/ws/echo';

/**
 * "Open echo socket": a WebSocket through Gatehouse to the demo API, which names the verified
 * user in its first message and then echoes. The browser sends the session cookie and this
 * page's Origin by itself; the socket is closed with 4401 when the session ends.
 */
export function EchoSocket() {
  const socket = useRef<WebSocket | undefined>(undefined);
  const [lines, setLines] = useState<string[]>([]);
  const [open, setOpen] = useState(false);

  useEffect(() => () => socket.current?.close(1000), []);

  function connect(): void {
    const log = (line: string) => setLines((previous) => [...previous.slice(-19), line]);
    const url = new URL(ECHO_PATH, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    socket.current = ws;
    ws.onopen = () => {
      setOpen(true);
      log('open');
      ws.send(`hello at ${new Date().toISOString()}`);
    };
    ws.onmessage = (event) => {
      const text = String(event.data);
      try {
        const welcome = JSON.parse(text) as { type?: unknown; sub?: unknown };
        if (welcome.type === 'welcome') return log(`welcome, ${String(welcome.sub)}`);
      } catch {
        // Not the welcome: an echo.
      }
      log(`echo: ${text}`);
    };
    ws.onclose = (event) => {
      setOpen(false);
      log(`closed ${event.code}${event.code === 4401 ? ' (session ended)' : ''}`);
    };
  }

  return (
    <section className="tool api" aria-labelledby="echo-heading">
      <h3 id="echo-heading">Open a WebSocket</h3>
      <p className="hint">An echo through Gatehouse; it closes with 4401 when your session ends.</p>
      <button type="button" className="button--secondary" onClick={connect} disabled={open}>
        Open echo socket
      </button>
      {lines.length > 0 && (
        <pre data-testid="socket-log" className="code">
          {lines.join('\n')}
        </pre>
      )}
    </section>
  );
}
