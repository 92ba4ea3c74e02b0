import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRealms, startDevIdp, type RunningDevIdp } from '@gatehouse/dev-idp';
import { createCookieFetch, freePort, signIn } from '@gatehouse/testkit';
import { createGatehouse, createLogger, loadConfig, type Gatehouse } from '../src/index.ts';
import { jsonLines } from './support/json-lines.ts';

interface LogLine {
  level: number;
  msg: string;
  tenant?: string;
  provider?: string;
  providers?: number;
  warmed?: number;
  failed?: number;
}

/**
 * The start-up warm-up of the providers (`providerWarmUpSeconds`): never fatal, never holding
 * readiness back longer than its bound, and a provider that failed it is discovered at its
 * first sign-in. (That a warmed provider's sign-in fetches neither its discovery document nor
 * its key set again is counted in metrics.integration.test.ts.)
 */
describe('provider warm-up at start-up', () => {
  /** Run first: a silent IdP's connections are cut before Gatehouse closes its client. */
  const cutConnections: Array<() => void> = [];
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cut of cutConnections.splice(0)) cut();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startGatehouse(idpOrigin: string, warmUpSeconds?: number) {
    const port = await freePort();
    const origin = `http://localhost:${port}`;
    const { config } = loadConfig({
      env: {
        GATEHOUSE_MODE: 'development',
        PUBLIC_URL: origin,
        DEV_IDP_ORIGIN: idpOrigin,
        SESSION_SECRET: 'test-session-secret-0123456789abcdef',
        METRICS_PORT: '0',
        RATE_LIMITS: 'off',
        ...(warmUpSeconds === undefined ? {} : { PROVIDER_WARM_UP_SECONDS: String(warmUpSeconds) }),
      },
    });
    const lines: LogLine[] = [];
    const gatehouse: Gatehouse = createGatehouse(config, {
      logger: createLogger('info', jsonLines(lines)),
    });
    const server = await gatehouse.listen(port, '127.0.0.1');
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gatehouse.close();
    });
    return { gatehouse, origin, lines };
  }

  /** An "IdP" that accepts connections and never answers. */
  async function silentIdp(): Promise<{ origin: string; connections: () => number }> {
    const sockets = new Set<Socket>();
    let accepted = 0;
    const server: Server = createServer((socket) => {
      accepted += 1;
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    cutConnections.push(() => {
      for (const socket of sockets) socket.destroy();
    });
    cleanups.push(async () => {
      await new Promise((resolve) => server.close(resolve));
    });
    return { origin: `http://localhost:${port}`, connections: () => accepted };
  }

  it('holds /readyz back while an IdP does not answer, but no longer than its bound', async () => {
    const idp = await silentIdp();
    const { gatehouse, origin, lines } = await startGatehouse(idp.origin, 1);

    const early = await fetch(`${origin}/readyz`);
    expect(early.status).toBe(503);
    expect(await early.json()).toEqual({ status: 'starting' });
    // The warm-up reached the IdP (both providers' discovery requests are on their way)…
    await expect.poll(idp.connections, { timeout: 10_000 }).toBeGreaterThan(0);
    // …and still hangs there, but the bound has passed: ready, with nothing logged as failed.
    await gatehouse.warmedUp();
    const later = await fetch(`${origin}/readyz`);
    expect(later.status).toBe(200);
    expect(await later.json()).toEqual({ status: 'ready' });
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    // Nothing else ever waited for it.
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
  });

  it('logs an IdP that is down at start, stays up, and discovers it at its first sign-in', async () => {
    const idpPort = await freePort();
    const idpOrigin = `http://localhost:${idpPort}`;
    const { gatehouse, origin, lines } = await startGatehouse(idpOrigin);
    await gatehouse.warmedUp();

    const summary = lines.find((line) => line.msg === 'providers warmed up');
    expect(summary).toMatchObject({ providers: 2, warmed: 0, failed: 2 });
    const failures = lines.filter((line) => line.msg.startsWith('provider warm-up: discovery'));
    expect(failures.map(({ tenant, provider }) => `${tenant}/${provider}`).sort()).toEqual([
      'acme/dev',
      'globex/dev',
    ]);
    expect((await fetch(`${origin}/readyz`)).status).toBe(200);

    // The IdP comes up: the first sign-in discovers it and succeeds.
    const idp: RunningDevIdp = await startDevIdp({
      port: idpPort,
      realms: defaultRealms({ gatehouseOrigin: origin }),
    });
    cleanups.push(() => idp.close());
    const browser = createCookieFetch();
    expect(await signIn(browser, origin, { login: 'alice', password: 'alice' })).toBe('/');
    const me = await browser(`${origin}/bff/user`);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ claims: { sub: 'alice' } });
  });

  it('does nothing with PROVIDER_WARM_UP_SECONDS=0: ready at once beside a silent IdP', async () => {
    const idp = await silentIdp();
    const { gatehouse, origin, lines } = await startGatehouse(idp.origin, 0);
    // A warm-up would hold readiness back here (the IdP never answers): there is none.
    expect((await fetch(`${origin}/readyz`)).status).toBe(200);
    await gatehouse.warmedUp();
    expect(lines.find((line) => line.msg === 'providers warmed up')).toBeUndefined();
  });

  it('refuses a bound that is not a whole number of seconds from 0 to 60', () => {
    const env = {
      GATEHOUSE_MODE: 'development',
      PUBLIC_URL: 'http://localhost:3000',
      SESSION_SECRET: 'test-session-secret-0123456789abcdef',
    };
    expect(loadConfig({ env }).config.providerWarmUpSeconds).toBe(3);
    for (const value of ['61', '-1', 'soon', '1.5']) {
      expect(() => loadConfig({ env: { ...env, PROVIDER_WARM_UP_SECONDS: value } })).toThrow(
        /providerWarmUpSeconds/,
      );
    }
  });
});
