import { LRUCache } from 'lru-cache';
import { UAParser } from 'ua-parser-js';

/**
 * What the sessions page shows about the browser that signed in, parsed once at sign-in from
 * its User-Agent by ua-parser-js (1.x, MIT) and kept in the session record: never the raw
 * User-Agent string. A parse runs a few hundred regular expressions (about a millisecond of
 * CPU until they are warm), and most sign-ins come from a handful of browsers: the result is
 * remembered per User-Agent (a bounded LRU, so a client sending a new one each time only
 * misses).
 */
export interface DeviceInfo {
  /** "Chrome 142", "Safari 18", or absent when unknown. */
  browser?: string;
  /** "Linux", "macOS", "iOS 18", "Android 15", or absent when unknown. */
  os?: string;
  /** The kind of device: a phone, a tablet, or a desktop/laptop (the default). */
  type: 'mobile' | 'tablet' | 'desktop';
  /** "Apple iPhone", "Samsung SM-S918B", when the User-Agent names one. */
  model?: string;
}

const MAX_UA_LENGTH = 512;

const parsed = new LRUCache<string, Readonly<DeviceInfo>>({ max: 1000 });

/** Keeps a parser's output short and printable (a User-Agent is whatever the client sent). */
function clean(value: string | undefined): string | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are what this drops
  const text = value?.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return text ? text.slice(0, 40) : undefined;
}

/** Only the major version: "142.0.7444.59" says no more to a person than "142". */
const major = (version: string | undefined) => version?.split('.')[0];

/** Operating systems whose version is worth showing (desktop versions are often frozen). */
const VERSIONED_OS = new Set(['iOS', 'Android', 'Windows']);

/**
 * The device a User-Agent describes.
 *
 * @example
 * ```ts
 * deviceInfo('Mozilla/5.0 (X11; Linux x86_64) … Chrome/142.0.0.0 Safari/537.36');
 * // { browser: 'Chrome 142', os: 'Linux', type: 'desktop' }
 * ```
 */
export function deviceInfo(userAgent: string | undefined): DeviceInfo {
  if (!userAgent) return { type: 'desktop' };
  const bounded = userAgent.slice(0, MAX_UA_LENGTH);
  let info = parsed.get(bounded);
  if (!info) {
    info = Object.freeze(parseDevice(bounded));
    parsed.set(bounded, info);
  }
  return { ...info };
}

function parseDevice(userAgent: string): DeviceInfo {
  const result = new UAParser(userAgent).getResult();
  const browserName = clean(result.browser.name);
  const browserVersion = clean(major(result.browser.version));
  const osName = clean(result.os.name === 'Mac OS' ? 'macOS' : result.os.name);
  const osVersion =
    osName && VERSIONED_OS.has(osName) ? clean(major(result.os.version)) : undefined;
  const vendor = clean(result.device.vendor);
  const modelName = clean(result.device.model);
  const type =
    result.device.type === 'mobile' || result.device.type === 'tablet'
      ? result.device.type
      : 'desktop';
  const browser =
    browserName && (browserVersion ? `${browserName} ${browserVersion}` : browserName);
  const os = osName && (osVersion ? `${osName} ${osVersion}` : osName);
  const model =
    modelName && (vendor && !modelName.startsWith(vendor) ? `${vendor} ${modelName}` : modelName);
  return {
    type,
    ...(browser ? { browser } : {}),
    ...(os ? { os } : {}),
    ...(model && type !== 'desktop' ? { model } : {}),
  };
}

/**
 * A short human summary of the user agent for the sessions page ("Chrome 142 on Linux"), kept in
 * the session record's `device`.
 *
 * @example
 * ```ts
 * deviceSummary('Mozilla/5.0 (X11; Linux x86_64) … Chrome/130.0 Safari/537.36'); // 'Chrome 130 on Linux'
 * ```
 */
export function deviceSummary(userAgent: string | undefined): string {
  return summaryOf(deviceInfo(userAgent));
}

/** "Chrome 142 on Linux", "Safari 18 on iOS 18", "Unknown device". */
export function summaryOf(info: DeviceInfo): string {
  const where = info.os ?? info.model;
  if (!info.browser && !where) return 'Unknown device';
  return `${info.browser ?? 'Browser'} on ${where ?? 'unknown system'}`;
}
