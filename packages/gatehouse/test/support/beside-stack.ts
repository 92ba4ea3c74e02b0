import type { Server } from 'node:http';
import { pino } from 'pino';
import { freePort, type RedisServer, type Stack } from '@gatehouse/testkit';
import { createGatehouse, loadConfig, type Gatehouse } from '../../src/index.ts';

/** One more Gatehouse instance beside a stack's, with keys of its own. */
export interface BesideInstance {
  origin: string;
  gatehouse: Gatehouse;
  server: Server;
  close(): Promise<void>;
}

/**
 * A development-mode instance sharing the stack's Redis, dev IdP, demo API and cookie secret,
 * configured by the environment plus `env` (its own `GATEHOUSE_ENCRYPTION_KEYS`, say): what
 * another instance of the fleet sees of the stack's sessions. The suites of key rotation's edges
 * (a retired key, other bytes under the same kid) use it.
 */
export async function startBesideStack(
  stack: Stack,
  redis: RedisServer,
  env: Record<string, string>,
): Promise<BesideInstance> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const { config } = loadConfig({
    env: {
      GATEHOUSE_MODE: 'development',
      PUBLIC_URL: origin,
      DEV_IDP_ORIGIN: stack.idp.origin,
      DEMO_API_URL: stack.api.origin,
      REDIS_URL: redis.url,
      SESSION_SECRET: 'test-session-secret-0123456789abcdef',
      RATE_LIMITS: 'off',
      ...env,
    },
  });
  const gatehouse = createGatehouse(config, { logger: pino({ level: 'silent' }) });
  const server = await gatehouse.listen(port, '127.0.0.1');
  return {
    origin,
    gatehouse,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gatehouse.close();
    },
  };
}
