import { startDemoApi } from '@gatehouse/demo-api';
import {
  DEMO_API_RESOURCE,
  defaultRealms,
  startDevIdp,
  type DevIdpOptions,
  type RunningDevIdp,
} from '@gatehouse/dev-idp';
import { startHaproxy, type RunningHaproxy } from './haproxy.ts';
import { freePort } from './ports.ts';
import type { RedisServer } from './redis.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

export interface ProxiedStackOptions {
  /** The one Redis every instance shares (required: instances share nothing else). */
  redis: RedisServer;
  /** How many Gatehouse processes behind HAProxy (default 2). */
  instances?: number;
  devIdp?: Omit<DevIdpOptions, 'port' | 'realms'>;
  /** Extra environment for every instance (e.g. `LOG_LEVEL`). */
  env?: Record<string, string>;
}

export interface ProxiedInstance {
  /** Its server name in HAProxy, also the `X-Served-By` header of what it answered. */
  name: string;
  /** The running process (replaced by `restart`). */
  process: ServerProcess;
  /**
   * Starts a new process with the same configuration on the same port once the current one has
   * exited (the second half of a rolling restart); resolves when it is ready.
   */
  restart(): Promise<void>;
}

export interface ProxiedStack {
  /** The public origin: HAProxy, in front of every instance. */
  origin: string;
  haproxy: RunningHaproxy;
  instances: ProxiedInstance[];
  idp: RunningDevIdp;
  api: { origin: string; close(): Promise<void> };
  close(): Promise<void>;
}

/** 32 fixed test bytes per key: tests are reproducible and these keys protect nothing. */
const TEST_ENCRYPTION_KEYS = 'test1:' + Buffer.alloc(32, 7).toString('base64url');

/**
 * A deployment as an operator runs it, on loopback: N Gatehouse processes
 * (`node apps/server/src/main.ts`, configured through the environment) sharing one Redis,
 * behind HAProxy (`haproxyConfig`), with the dev IdP and the demo API in this process.
 * Browsers (and tests) talk to HAProxy only; it is the `PUBLIC_URL` of every instance.
 */
export async function startProxiedStack(options: ProxiedStackOptions): Promise<ProxiedStack> {
  const count = options.instances ?? 2;
  const proxyPort = await freePort();
  const origin = `http://localhost:${proxyPort}`;
  const cleanUps: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const cleanUp of cleanUps.reverse()) await cleanUp().catch(() => undefined);
    cleanUps.length = 0;
  };

  try {
    const idp = await startDevIdp({
      ...options.devIdp,
      port: 0,
      realms: defaultRealms({ gatehouseOrigin: origin }),
    });
    cleanUps.push(() => idp.close());
    const api = await startDemoApi({
      port: 0,
      trustedIssuers: [
        ...['', '/globex'].map((path) => ({
          issuer: idp.issuer(path),
          jwksUri: `${idp.issuer(path)}/jwks`,
          audience: Object.keys(options.devIdp?.resources ?? { [DEMO_API_RESOURCE]: {} }),
        })),
      ],
    });
    cleanUps.push(() => api.close());

    const instances: ProxiedInstance[] = [];
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    const env = {
      GATEHOUSE_MODE: 'development',
      PUBLIC_URL: origin,
      TRUST_PROXY: 'loopback',
      DEV_IDP_ORIGIN: idp.origin,
      DEMO_API_URL: api.origin,
      REDIS_URL: options.redis.url,
      SESSION_SECRET: 'test-session-secret-0123456789abcdef',
      GATEHOUSE_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      LOG_LEVEL: 'warn',
      ...options.env,
    };
    for (const [index, port] of ports.entries()) {
      const instance: ProxiedInstance = {
        name: `gatehouse${index + 1}`,
        process: await startServerProcess(port, env),
        async restart() {
          await instance.process.exited;
          instance.process = await startServerProcess(port, env);
        },
      };
      cleanUps.push(() => instance.process.stop('SIGKILL'));
      instances.push(instance);
    }

    const haproxy = await startHaproxy({
      port: proxyPort,
      backends: instances.map(({ name, process: server }) => ({ name, port: server.port })),
    });
    cleanUps.push(() => haproxy.stop());
    return { origin, haproxy, instances, idp, api, close };
  } catch (error) {
    await close();
    throw error;
  }
}
