import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/index.ts';

const env = (extra: Record<string, string>) => ({
  GATEHOUSE_MODE: 'development',
  PUBLIC_URL: 'http://localhost:3000',
  SESSION_SECRET: 'test-session-secret-0123456789abcdef',
  ...extra,
});

function problems(extra: Record<string, string>): readonly string[] {
  try {
    loadConfig({ env: env(extra) });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('rate limit and metrics configuration', () => {
  it('has the documented defaults', () => {
    const { config } = loadConfig({ env: env({}) });
    expect(config.rateLimits).toEqual({
      loginStart: { points: 60, durationSeconds: 60 },
      callback: { points: 60, durationSeconds: 60 },
      failedCallback: { points: 20, durationSeconds: 600 },
      adminApi: { points: 300, durationSeconds: 60 },
      providerTest: { points: 10, durationSeconds: 60 },
      backchannelLogout: { points: 300, durationSeconds: 60 },
    });
    expect(config.metrics).toEqual({ port: 9464, host: '127.0.0.1' });
  });

  it('takes each limit from RATE_LIMIT_<NAME> (points/seconds or off), the rest from the file', () => {
    const { config } = loadConfig({
      env: env({ RATE_LIMIT_LOGIN_START: '10/30', RATE_LIMIT_ADMIN_API: 'off' }),
      input: {
        mode: 'development',
        publicUrl: 'http://localhost:3000',
        rateLimits: { callback: { points: 5, durationSeconds: 5 }, providerTest: false },
      },
    });
    expect(config.rateLimits.loginStart).toEqual({ points: 10, durationSeconds: 30 });
    expect(config.rateLimits.adminApi).toBe(false);
    expect(config.rateLimits.callback).toEqual({ points: 5, durationSeconds: 5 });
    expect(config.rateLimits.providerTest).toBe(false);
    expect(config.rateLimits.failedCallback).toEqual({ points: 20, durationSeconds: 600 });
  });

  it('RATE_LIMITS=off turns every limit off', () => {
    const { config } = loadConfig({ env: env({ RATE_LIMITS: 'off' }) });
    expect(Object.values(config.rateLimits)).toEqual([false, false, false, false, false, false]);
  });

  it('reports every malformed value at once', () => {
    expect(
      problems({
        RATE_LIMIT_CALLBACK: 'lots',
        RATE_LIMIT_BACKCHANNEL_LOGOUT: '0/60',
        RATE_LIMITS: 'maybe',
        METRICS_PORT: '-1',
        METRICS_HOST: '',
      }),
    ).toEqual(
      expect.arrayContaining([
        'RATE_LIMIT_CALLBACK: expected "<points>/<seconds>" (e.g. 60/60) or "off"',
        'RATE_LIMITS: must be "on" or "off"',
        expect.stringMatching(/^rateLimits\.backchannelLogout/),
        expect.stringMatching(/^metrics\.port/),
      ]),
    );
  });

  it('METRICS_HOST and METRICS_PORT override the file', () => {
    const { config } = loadConfig({
      env: env({ METRICS_HOST: '0.0.0.0' }),
      input: { mode: 'development', publicUrl: 'http://localhost:3000', metrics: { port: 9100 } },
    });
    expect(config.metrics).toEqual({ port: 9100, host: '0.0.0.0' });
  });
});
