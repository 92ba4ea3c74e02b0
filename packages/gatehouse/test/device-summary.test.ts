import { describe, expect, it } from 'vitest';
import { deviceInfo, deviceSummary } from '../src/session/device-summary.ts';

const UA = {
  chromeLinux:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.7444.59 Safari/537.36',
  firefoxWindows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0',
  safariIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  chromeAndroid:
    'Mozilla/5.0 (Linux; Android 15; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36',
  safariIpad:
    'Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
  edgeMac:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0',
};

describe('device summary (ua-parser-js)', () => {
  it.each([
    [
      UA.chromeLinux,
      { browser: 'Chrome 142', os: 'Linux', type: 'desktop' },
      'Chrome 142 on Linux',
    ],
    [
      UA.firefoxWindows,
      { browser: 'Firefox 145', os: 'Windows 10', type: 'desktop' },
      'Firefox 145 on Windows 10',
    ],
    [
      UA.safariIphone,
      { browser: 'Mobile Safari 18', os: 'iOS 18', type: 'mobile' },
      'Mobile Safari 18 on iOS 18',
    ],
    [
      UA.chromeAndroid,
      { browser: 'Chrome 142', os: 'Android 15', type: 'mobile' },
      'Chrome 142 on Android 15',
    ],
    [
      UA.safariIpad,
      { browser: 'Mobile Safari 17', os: 'iOS 17', type: 'tablet' },
      'Mobile Safari 17 on iOS 17',
    ],
    [UA.edgeMac, { browser: 'Edge 142', os: 'macOS', type: 'desktop' }, 'Edge 142 on macOS'],
  ])('names %s', (userAgent, info, summary) => {
    expect(deviceInfo(userAgent)).toMatchObject(info);
    expect(deviceSummary(userAgent)).toBe(summary);
  });

  it('says "Unknown device" for nothing or noise', () => {
    expect(deviceSummary(undefined)).toBe('Unknown device');
    expect(deviceSummary('')).toBe('Unknown device');
    expect(deviceSummary('curl-ish/1 ###')).toBe('Unknown device');
  });

  it('keeps hostile input short and printable', () => {
    const hostile = `Mozilla/5.0 (X11; Linux x86_64) Chrome/1\u0000\u001b[31m${'9'.repeat(10_000)} Safari/537.36`;
    const info = deviceInfo(hostile);
    for (const value of [info.browser, info.os, info.model]) {
      if (value === undefined) continue;
      expect(value.length).toBeLessThanOrEqual(40);
      // eslint-disable-next-line no-control-regex -- control characters are what must not be there
      expect(value).not.toMatch(/[\u0000-\u001f]/);
    }
    expect(deviceInfo('x'.repeat(100_000)).type).toBe('desktop');
  });

  it('answers a User-Agent seen before from memory, unharmed by what a caller did to an answer', () => {
    const first = deviceInfo(UA.safariIphone);
    first.browser = 'Tampered';
    delete first.os;
    expect(deviceInfo(UA.safariIphone)).toEqual({
      browser: 'Mobile Safari 18',
      os: 'iOS 18',
      type: 'mobile',
      model: 'Apple iPhone',
    });
    // Only the first 512 characters are parsed, so a longer one shares their answer.
    const padded = `${UA.chromeLinux}${' '.repeat(600)}`;
    expect(deviceInfo(padded)).toEqual(deviceInfo(padded.slice(0, 512)));
  });
});
