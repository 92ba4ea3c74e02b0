import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieFetch, signIn, startStack, type Stack } from '@gatehouse/testkit';
import { scrape } from './support/scrape.ts';

const root = resolve(import.meta.dirname, '../../..');
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');

interface Target {
  refId: string;
  expr: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: root, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The metric names a PromQL expression selects, parsed by Prometheus's own grammar. */
function selectedMetrics(expr: string): { names: string[]; errors: number } {
  // Grafana's variables are not PromQL: a range and a regex stand in for them.
  const promql = expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*');
  const names: string[] = [];
  let errors = 0;
  parser.parse(promql).iterate({
    enter(node) {
      if (node.type.isError) errors += 1;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        names.push(promql.slice(node.from, node.to));
      }
    },
  });
  return { names, errors };
}

describe('deploy/: Prometheus alert rules and the Grafana dashboard', () => {
  let stack: Stack;
  /** Every sample name the real scrape exposes (a histogram's `_bucket`, `_sum`, `_count`). */
  const exposed = new Set<string>();
  const families = new Set<string>();

  beforeAll(async () => {
    stack = await startStack({ metrics: true });
    const http = createCookieFetch();
    await signIn(http, stack.origin, { login: 'alice', password: 'alice' });
    await http(`${stack.origin}/api/demo/me`, { headers: { 'x-csrf': '1' } });
    const result = await scrape(stack.gatehouses[0]?.metricsOrigin ?? '');
    for (const [name, family] of result.families) {
      families.add(name);
      if (family.type === 'HISTOGRAM') {
        for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(`${name}${suffix}`);
      } else {
        exposed.add(name);
      }
    }
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('alert rules pass promtool check rules', () => {
    const { status, output } = promtool('check', 'rules', 'deploy/prometheus/alerts.yml');
    expect(output).toContain('SUCCESS: 6 rules found');
    expect(status).toBe(0);
  });

  it('alert rules pass their unit tests (promtool test rules)', () => {
    const { status, output } = promtool('test', 'rules', 'deploy/prometheus/alerts.test.yml');
    expect(output).toContain('SUCCESS');
    expect(status).toBe(0);
  });

  it('alert rules have a for:, a severity and annotations, and name only exposed metrics', () => {
    const rules = read('deploy/prometheus/alerts.yml');
    const alerts = rules.split(/\n\s+- alert: /).slice(1);
    expect(alerts.map((alert) => alert.split('\n')[0])).toEqual([
      'GatehouseHighErrorRatio',
      'GatehouseIdpUnavailable',
      'GatehouseStoreUnavailable',
      'GatehouseEncryptionKeyMismatch',
      'GatehouseRefreshFailures',
      'GatehouseRateLimiting',
    ]);
    for (const alert of alerts) {
      expect(alert).toMatch(/\n\s+for: \d+m\n/);
      expect(alert).toMatch(/\n\s+severity: (page|warning|info)\n/);
      expect(alert).toMatch(/\n\s+summary: \S/);
      expect(alert).toMatch(/\n\s+description: /);
    }
    const named = new Set(rules.match(/\bgatehouse_[a-z_]+/g));
    expect(named.size).toBeGreaterThan(3);
    for (const name of named) expect(exposed, name).toContain(name);
  });

  it('the dashboard is well-formed and every panel’s PromQL selects only exposed metrics', () => {
    const dashboard = JSON.parse(read('deploy/grafana/gatehouse-dashboard.json')) as {
      uid: string;
      title: string;
      panels: Panel[];
      templating: { list: Array<{ name: string; type: string }> };
    };
    expect(dashboard.uid).toBe('gatehouse');
    expect(dashboard.templating.list.map((v) => [v.name, v.type])).toEqual([
      ['datasource', 'datasource'],
      ['instance', 'query'],
    ]);
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);

    const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(15);
    const selected = new Set<string>();
    for (const panel of graphs) {
      expect(panel.title, `panel ${panel.id}`).not.toBe('');
      expect(panel.gridPos, panel.title).toBeDefined();
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        const { names, errors } = selectedMetrics(target.expr);
        expect(errors, `${panel.title}: ${target.expr}`).toBe(0);
        expect(names.length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0);
        for (const name of names) {
          expect(exposed, `${panel.title} selects ${name}`).toContain(name);
          selected.add(name);
        }
      }
    }
    // Every family the issue asks a dashboard for has a panel.
    for (const family of [
      'gatehouse_http_requests_total',
      'gatehouse_http_request_duration_seconds_bucket',
      'gatehouse_upstream_errors_total',
      'gatehouse_upstream_retries_total',
      'gatehouse_logins_total',
      'gatehouse_refreshes_total',
      'gatehouse_idp_requests_total',
      'gatehouse_store_errors_total',
      'gatehouse_rate_limited_total',
    ]) {
      expect(selected, family).toContain(family);
    }
  });

  it('the README lists exactly the gatehouse_ metric families the scrape exposes', () => {
    const readme = read('README.md');
    const section = readme.slice(
      readme.indexOf('\n## Metrics'),
      readme.indexOf('\n## Rate limits'),
    );
    const listed = new Set(section.match(/`gatehouse_[a-z_]+`/g)?.map((name) => name.slice(1, -1)));
    const own = [...families].filter((name) => name.startsWith('gatehouse_')).sort();
    expect([...listed].sort()).toEqual(own);
  });
});
