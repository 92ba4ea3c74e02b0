import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowNegative: boolean }>
>['values'];

/**
 * A script's command line, parsed strictly by node:util's `parseArgs` (an unknown option or a
 * missing value is refused). `--help` (or `-h`) prints the script's header comment — what it
 * measures and how to run it — and exits 0; a refused command line prints the reason and the
 * same text on stderr and exits 2, never a stack trace. A bare `--` (which `pnpm bench --
 * --rounds 1` passes through) is ignored.
 *
 * @example
 * const values = scriptOptions(import.meta.url, { runs: { type: 'string', default: '20' } });
 */
export function scriptOptions<const O extends Options>(
  scriptUrl: string,
  options: O,
  settings: { allowNegative?: boolean } = {},
): Parsed<O> {
  const args = process.argv.slice(2).filter((arg) => arg !== '--');
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage(scriptUrl));
    process.exit(0);
  }
  try {
    return parseArgs({
      args,
      options,
      strict: true,
      allowNegative: settings.allowNegative ?? false,
    }).values;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${reason}\n\n${usage(scriptUrl)}`);
    process.exit(2);
  }
}

/** The script's first block comment, without its comment markers. */
function usage(scriptUrl: string): string {
  const source = readFileSync(fileURLToPath(scriptUrl), 'utf8');
  const comment = /\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? '';
  const lines = comment.split('\n').map((line) => line.replace(/^\s*\* ?/, ''));
  return `${lines.join('\n').trim()}\n`;
}
