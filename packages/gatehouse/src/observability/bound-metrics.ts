import type { Metric, Registry } from 'prom-client';

/**
 * Counters and histograms for the busiest paths, whose label sets are bound once: each
 * `labels(...)` call validates and resolves its label values a single time and returns the
 * series itself, so an `inc` or `observe` is a few additions — where a prom-client child
 * re-validates and re-hashes its labels on every call. They are scraped through the same
 * prom-client `Registry` as every other family: `get()` answers the shape the registry formats
 * (prom-client's own histogram's, buckets with `le` then the series' labels), so the text a
 * scrape sees is the same as prom-client's `Counter` and `Histogram` would write.
 */

interface BoundConfig<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: readonly Registry[];
}

/** One value of a scrape, as prom-client's registry formats it. */
interface ScrapedValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
  sharedLabels?: Record<string, string>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

abstract class BoundFamily<L extends string, S> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum';
  readonly labelNames: readonly L[];
  readonly #series = new Map<string, S>();

  constructor(config: BoundConfig<L>) {
    if (!METRIC_NAME.test(config.name)) throw new Error(`invalid metric name ${config.name}`);
    if (!config.labelNames.every((label) => LABEL_NAME.test(label) && label !== 'le')) {
      throw new Error(`invalid label names of ${config.name}`);
    }
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    // The registry only needs `name` and `get()` of a metric.
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  protected abstract create(labels: Record<string, string>): S;

  /** The series of these label values (in `labelNames` order), created on first use. */
  labels(...values: string[]): S {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    }
    const key = values.join('\u0000');
    let series = this.#series.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, index) => {
        labels[name] = values[index] ?? '';
      });
      series = this.create(labels);
      this.#series.set(key, series);
    }
    return series;
  }

  protected series(): IterableIterator<S> {
    return this.#series.values();
  }
}

/**
 * A counter's series: `inc()` adds to a number. Like a prom-client child, a series is scraped
 * only once it was incremented (by 0 included).
 */
export class CounterSeries {
  readonly labels: Record<string, string>;
  value = 0;
  touched = false;
  constructor(labels: Record<string, string>) {
    this.labels = labels;
  }
  inc(amount = 1): void {
    this.value += amount;
    this.touched = true;
  }
}

/** A counter family with bound series (see the module). */
export class BoundCounter<L extends string> extends BoundFamily<L, CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Record<string, string>): CounterSeries {
    return new CounterSeries(labels);
  }

  get(): Promise<{
    name: string;
    help: string;
    type: 'counter';
    aggregator: string;
    values: ScrapedValue[];
  }> {
    const values: ScrapedValue[] = [];
    for (const series of this.series()) {
      if (series.touched) values.push({ value: series.value, labels: series.labels });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}

/**
 * A histogram's series: the count per bucket (not cumulative), the sum and the count. Scraped
 * once it has an observation, like a prom-client child.
 */
export class HistogramSeries {
  readonly labels: Record<string, string>;
  readonly #bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(labels: Record<string, string>, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.#bounds;
    let index = 0;
    while (index < bounds.length && value > (bounds[index] as number)) index += 1;
    if (index < bounds.length) this.counts[index] = (this.counts[index] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

/** A histogram family with bound series (see the module). */
export class BoundHistogram<L extends string> extends BoundFamily<L, HistogramSeries> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(config: BoundConfig<L> & { buckets: readonly number[] }) {
    super(config);
    this.buckets = [...config.buckets].sort((a, b) => a - b);
  }

  protected create(labels: Record<string, string>): HistogramSeries {
    return new HistogramSeries(labels, this.buckets);
  }

  /** prom-client's histogram shape: cumulative buckets, `+Inf`, `_sum`, `_count` per series. */
  get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: string;
    values: ScrapedValue[];
  }> {
    const values: ScrapedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.series()) {
      if (series.count === 0) continue;
      let cumulative = 0;
      this.buckets.forEach((le, index) => {
        cumulative += series.counts[index] ?? 0;
        values.push({
          value: cumulative,
          labels: { le },
          metricName: bucket,
          sharedLabels: series.labels,
        });
      });
      values.push(
        {
          value: series.count,
          labels: { le: '+Inf' },
          metricName: bucket,
          sharedLabels: series.labels,
        },
        {
          value: series.sum,
          labels: {},
          metricName: `${this.name}_sum`,
          sharedLabels: series.labels,
        },
        {
          value: series.count,
          labels: {},
          metricName: `${this.name}_count`,
          sharedLabels: series.labels,
        },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}
