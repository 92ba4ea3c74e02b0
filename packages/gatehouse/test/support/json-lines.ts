import { Writable } from 'node:stream';

/**
 * A log destination for tests: every JSON line the logger writes is parsed and pushed onto
 * `into`, so a test can assert on levels, messages and fields.
 *
 * @example
 * const lines: Array<{ level: number; msg: string }> = [];
 * const logger = createLogger('info', jsonLines(lines));
 */
export function jsonLines<Line>(into: Line[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        into.push(JSON.parse(line) as Line);
      }
      done();
    },
  });
}
