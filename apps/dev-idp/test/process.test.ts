import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  completeDevIdpLogin,
  defaultRealms,
  DEV_CLIENTS,
  startDevIdpProcess,
  type DevIdpProcess,
} from '../src/index.ts';
import { createCookieFetch, globexAuthorizationUrl } from './helpers.ts';

const GATEHOUSE = 'http://localhost:3998';

let idp: DevIdpProcess;

beforeAll(async () => {
  idp = await startDevIdpProcess({
    realms: defaultRealms({ gatehouseOrigin: GATEHOUSE }),
    controlApi: true,
  });
}, 60_000);

afterAll(async () => {
  await idp.close();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the dev IdP in a process of its own', () => {
  it('runs apart from this process and serves each realm at its issuer', async () => {
    expect(idp.pid).not.toBe(process.pid);
    expect(alive(idp.pid)).toBe(true);
    for (const path of ['', '/globex']) {
      const response = await fetch(`${idp.issuer(path)}/.well-known/openid-configuration`);
      expect(((await response.json()) as { issuer: string }).issuer).toBe(`${idp.origin}${path}`);
    }
  });

  it('counts token endpoint calls per realm and grant type over its control API', async () => {
    const config = await client.discovery(
      new URL(idp.issuer('/globex')),
      DEV_CLIENTS.globex.clientId,
      undefined,
      client.ClientSecretBasic(DEV_CLIENTS.globex.clientSecret),
      { execute: [client.allowInsecureRequests] },
    );
    const verifier = client.randomPKCECodeVerifier();
    const url = globexAuthorizationUrl(
      config,
      await client.calculatePKCECodeChallenge(verifier),
      GATEHOUSE,
    );
    const [rootBefore, globexBefore] = await Promise.all([
      idp.tokenEndpointCalls(),
      idp.tokenEndpointCalls('/globex'),
    ]);
    const callback = await completeDevIdpLogin(createCookieFetch(), url, {
      login: 'carol',
      password: 'carol',
    });
    const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: verifier,
      expectedState: client.skipStateCheck,
    });
    expect(tokens.claims()).toMatchObject({ iss: `${idp.origin}/globex`, sub: 'carol' });
    await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(await idp.tokenEndpointCalls('/globex')).toBe(globexBefore + 2);
    expect(await idp.tokenEndpointCalls()).toBe(rootBefore);
    expect(await idp.tokenEndpointCallsByGrantType('/globex')).toMatchObject({
      authorization_code: 1,
      refresh_token: 1,
    });
    await expect(idp.tokenEndpointCalls('/nowhere')).rejects.toThrow('no realm at path');
  });

  it('delays token endpoint answers when told to over its control API, and refuses a bad delay', async () => {
    await idp.setTokenEndpointDelay(300);
    try {
      const started = Date.now();
      const response = await fetch(`${idp.issuer()}/token`, { method: 'POST' });
      await response.arrayBuffer();
      // The delay comes before any checking: even a request without a client waits for it.
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(response.status).toBe(400);
    } finally {
      await idp.setTokenEndpointDelay(0);
    }
    await expect(idp.setTokenEndpointDelay(-5)).rejects.toThrow(
      'HTTP 400: {"error":"invalid_request","error_description":"ms must be an integer between 0 and 60000"}',
    );
  });

  it('exits on close, and a second close is fine', async () => {
    const second = await startDevIdpProcess({ warmUp: false });
    expect(alive(second.pid)).toBe(true);
    await second.close();
    expect(alive(second.pid)).toBe(false);
    await second.close();
    await expect(fetch(`${second.origin}/.well-known/openid-configuration`)).rejects.toThrow();
  });

  it('stops by itself when the process that started it is killed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dev-idp-orphan-'));
    try {
      const script = join(dir, 'parent.ts');
      const processModule = new URL('../src/process.ts', import.meta.url).href;
      await writeFile(
        script,
        `import { startDevIdpProcess } from ${JSON.stringify(processModule)};\n` +
          'const idp = await startDevIdpProcess({ warmUp: false });\n' +
          'process.stdout.write(`${idp.pid}\\n`);\n' +
          'setInterval(() => undefined, 1000);\n',
      );
      const parent = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const pid = await new Promise<number>((resolve, reject) => {
        parent.once('exit', (code) => reject(new Error(`parent exited early (${code})`)));
        createInterface({ input: parent.stdout }).once('line', (line) => resolve(Number(line)));
      });
      expect(alive(pid)).toBe(true);
      parent.kill('SIGKILL');
      await expect.poll(() => alive(pid), { timeout: 20_000, interval: 100 }).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
