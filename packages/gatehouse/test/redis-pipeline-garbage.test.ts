import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

/**
 * ioredis as installed here (`patches/ioredis@6.0.0.patch`): a pipeline's `length` is a getter
 * on the prototype. ioredis defines it on each instance, with a closure of its own, and V8 then
 * keeps every pipeline (its commands, their arguments and replies) until the next full
 * collection: each auto-pipelined command (every proxied call's session read, most of a
 * sign-in's writes) was copied by the young generation's collections and promoted, garbage that
 * cost CPU on every request.
 */

const IOREDIS = pathToFileURL(createRequire(import.meta.url).resolve('ioredis')).href;

/** 200 000 pipelines made and dropped, 1000 per turn of the event loop, in a process of its own. */
const MAKE_PIPELINES = `
const { Redis } = await import(${JSON.stringify(IOREDIS)});
const { setImmediate: nextTurn } = await import('node:timers/promises');
const redis = new Redis({ lazyConnect: true });
for (let turn = 0; turn < 200; turn += 1) {
  for (let i = 0; i < 1000; i += 1) redis.pipeline().get('key').set('key', 'value');
  await nextTurn();
}
redis.disconnect();
`;

describe('ioredis pipelines as patched', () => {
  it('count their queued commands through the prototype getter', async () => {
    const redis = new Redis({ lazyConnect: true });
    try {
      const pipeline = redis.pipeline().set('key', 'value').get('key');
      expect(pipeline.length).toBe(2);
      expect(Object.getOwnPropertyDescriptor(pipeline, 'length')).toBeUndefined();
    } finally {
      redis.disconnect();
    }
  });

  it('die young: what survives the young generation’s collections stays small', async () => {
    // V8's own account of every young-generation collection (`--trace-gc-nvp`).
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--trace-gc-nvp', '--input-type=module', '--eval', MAKE_PIPELINES],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const survived = [...stdout.matchAll(/gc=s .*?new_space_survived=(\d+)/g)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );
    expect(stdout).toMatch(/gc=s /);
    // Here: under 100 bytes per pipeline (the start-up's own survivors included); with the
    // per-instance getter over 3 KB.
    expect(survived / 200_000).toBeLessThan(400);
  }, 60_000);
});
