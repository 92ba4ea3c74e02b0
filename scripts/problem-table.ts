/**
 * Writes the README's table of problem codes from the catalogue
 * (`packages/gatehouse/src/problems.ts`), between its `problem-table` markers. The test
 * `problem-catalogue.test.ts` fails when the table and the catalogue disagree.
 *
 *   pnpm problems:table && pnpm prettier --write README.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  PROBLEMS,
  PROBLEM_CODES,
  type ProblemDefinition,
} from '../packages/gatehouse/src/problems.ts';

const START = '<!-- problem-table:start -->';
const END = '<!-- problem-table:end -->';

/** The table in Markdown, one row per code in catalogue order. */
function problemTable(): string {
  const rows = PROBLEM_CODES.map((code) => {
    const { status, message, retryAfterSeconds }: ProblemDefinition = PROBLEMS[code];
    return `| \`${code}\` | ${status} | ${message} | ${retryAfterSeconds ?? ''} |`;
  });
  return [
    '| Code | Status | Meaning (default detail) | Retry-After (s) |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

const readmeUrl = new URL('../README.md', import.meta.url);
const readme = readFileSync(readmeUrl, 'utf8');
const start = readme.indexOf(START);
const end = readme.indexOf(END);
if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} section`);
writeFileSync(
  readmeUrl,
  `${readme.slice(0, start + START.length)}\n\n${problemTable()}\n\n${readme.slice(end)}`,
);
