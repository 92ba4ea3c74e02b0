import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DevIdpOptions } from './server.ts';

const PROCESS_MAIN = fileURLToPath(new URL('./process-main.ts', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * The dev IdP running in a Node process of its own (as any real IdP runs apart from its
 * clients): what the in-process `RunningDevIdp` offers, with the test handles going over the
 * control API (`controlApi: true` is needed for them).
 */
export interface DevIdpProcess {
  /** The public origin. */
  origin: string;
  pid: number;
  issuer(realmPath?: string): string;
  /** Token endpoint requests of the realm so far (`GET /__control/stats`). */
  tokenEndpointCalls(realmPath?: string): Promise<number>;
  /** Per grant type counts of token endpoint requests that reached a grant handler. */
  tokenEndpointCallsByGrantType(realmPath?: string): Promise<Record<string, number>>;
  /** `POST /__control/delay`. */
  setTokenEndpointDelay(ms: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited after 10 s. Idempotent. */
  close(): Promise<void>;
}

interface Ready {
  origin: string;
  issuers: Record<string, string>;
}

type Stats = Record<string, { tokenEndpointCalls: number; byGrantType: Record<string, number> }>;

/**
 * Starts `startDevIdp(options)` in a child Node process (apps/dev-idp/src/process-main.ts) and
 * resolves once it listens and has warmed up. `options` must be JSON (realms, users, clients,
 * lifetimes…). The child's stderr goes to this process's; it stops with `close()`, or by itself
 * when this process exits.
 */
export async function startDevIdpProcess(options: DevIdpOptions = {}): Promise<DevIdpProcess> {
  const child = spawn(process.execPath, [PROCESS_MAIN], {
    env: { ...process.env, DEV_IDP_OPTIONS: JSON.stringify(options) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit').then(() => undefined);
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  let ready: Ready;
  try {
    ready = await new Promise<Ready>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the dev IdP process did not start in ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the dev IdP process exited early (${signal ?? code})`));
      });
      createInterface({ input: child.stdout }).once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as Ready);
        } catch {
          reject(new Error(`the dev IdP process printed ${line.slice(0, 200)}`));
        }
      });
    });
  } catch (error) {
    await close();
    throw error;
  }
  // Anything it prints later is not ours to read: keep the pipe from filling up.
  child.stdout.resume();
  child.stdin.on('error', () => undefined);

  const control = async (path: string, init?: RequestInit): Promise<Response> => {
    const response = await fetch(`${ready.origin}/__control${path}`, init);
    if (!response.ok) {
      const answer = (await response.text()).slice(0, 200);
      throw new Error(
        response.status === 404
          ? `dev IdP control ${path}: HTTP 404 (start it with controlApi: true)`
          : `dev IdP control ${path}: HTTP ${response.status}: ${answer}`,
      );
    }
    return response;
  };
  const statsOf = async (realmPath = '') => {
    const { realms } = (await (await control('/stats')).json()) as { realms: Stats };
    const found = realms[realmPath];
    if (!found) throw new Error(`no realm at path ${JSON.stringify(realmPath)}`);
    return found;
  };
  return {
    origin: ready.origin,
    pid: child.pid ?? 0,
    issuer: (realmPath = '') => ready.issuers[realmPath] ?? `${ready.origin}${realmPath}`,
    tokenEndpointCalls: async (realmPath) => (await statsOf(realmPath)).tokenEndpointCalls,
    tokenEndpointCallsByGrantType: async (realmPath) => (await statsOf(realmPath)).byGrantType,
    async setTokenEndpointDelay(ms) {
      const response = await control('/delay', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ms }),
      });
      await response.arrayBuffer();
    },
    close,
  };
}
