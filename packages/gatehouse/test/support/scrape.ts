import { spawnSync } from 'node:child_process';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** One scrape, parsed: family name → its samples (a histogram's `count`/`sum` as `value`). */
export interface Scrape {
  text: string;
  families: Map<
    string,
    { type: string; samples: Array<{ labels: Record<string, string>; value: number }> }
  >;
  /** The sum of a counter's samples whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
  /** Every value one label takes in a family. */
  labelValues(name: string, label: string): string[];
}

/** `GET /metrics` on a metrics listener, parsed with a Prometheus text-format parser. */
export async function scrape(metricsOrigin: string): Promise<Scrape> {
  const res = await fetch(`${metricsOrigin}/metrics`);
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
  const contentType = res.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/plain; version=0.0.4')) {
    throw new Error(`scrape content type ${contentType}`);
  }
  return parseScrape(await res.text());
}

/**
 * The parser reads labelled counters and gauges but keeps only one unlabelled series of a
 * histogram, so each sample name (`x_bucket`, `x_sum`, `x_count` too) is given to it as an
 * untyped family of its own; the declared types are kept aside. A histogram's samples are then
 * its `_count` series.
 */
export function parseScrape(text: string): Scrape {
  const types = new Map<string, string>();
  const bySample = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const declared = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (declared?.[1] && declared[2]) types.set(declared[1], declared[2].toUpperCase());
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '';
    bySample.set(name, [...(bySample.get(name) ?? []), line]);
  }
  const regrouped = [...bySample]
    .map(([name, lines]) => `# HELP ${name} -\n# TYPE ${name} untyped\n${lines.join('\n')}\n`)
    .join('');
  const parsed = new Map(parsePrometheusTextFormat(regrouped).map((f) => [f.name, f]));
  const families: Scrape['families'] = new Map();
  for (const [name, type] of types) {
    const source = parsed.get(type === 'HISTOGRAM' || type === 'SUMMARY' ? `${name}_count` : name);
    families.set(name, {
      type,
      samples: (source?.metrics ?? []).map((sample) => ({
        labels: sample.labels ?? {},
        value: Number(sample.value ?? 'NaN'),
      })),
    });
  }
  return {
    text,
    families,
    sum(name, labels = {}) {
      const family = families.get(name);
      if (!family) throw new Error(`no metric family ${name}`);
      return family.samples
        .filter((sample) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v))
        .reduce((total, sample) => total + sample.value, 0);
    },
    labelValues(name, label) {
      const family = families.get(name);
      if (!family) throw new Error(`no metric family ${name}`);
      return [...new Set(family.samples.map((sample) => sample.labels[label] ?? ''))];
    },
  };
}

/** `promtool check metrics` on a scrape: its findings (lint) and exit status. */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
