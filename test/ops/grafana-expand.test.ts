import { describe, expect, it } from 'vitest';
import { dedent, sql, variable } from '../../grafana/src/build.ts';
import { expandPromQL, expandSql, formatInterval } from './grafana-expand.ts';
import { familyOf, metricNames, parseExposition } from './promql-names.ts';

const ctx = {
  from: new Date('2026-01-01T00:00:00Z'),
  to: new Date('2026-01-01T06:00:00Z'),
  intervalMs: 300_000,
  variables: { tenant: "o'brien", group: '0', node: '.*' },
};

describe('Grafana interpolation as the tests apply it', () => {
  it('quotes sqlstring variables and expands the PostgreSQL macros', () => {
    expect(
      expandSql(
        `SELECT $__timeGroupAlias(ts, $__interval), count(*) FROM t WHERE $__timeFilter(ts) AND tenant_id = ${variable('tenant', 'sqlstring')} AND x < $__interval_ms GROUP BY 1`,
        ctx,
      ),
    ).toBe(
      `SELECT floor(extract(epoch from ts)/300)*300 AS "time", count(*) FROM t WHERE ts BETWEEN '2026-01-01T00:00:00.000Z' AND '2026-01-01T06:00:00.000Z' AND tenant_id = 'o''brien' AND x < 300000 GROUP BY 1`,
    );
    expect(expandSql('SELECT $__timeFrom()::timestamptz, $__timeTo()', ctx)).toBe(
      "SELECT '2026-01-01T00:00:00.000Z'::timestamptz, '2026-01-01T06:00:00.000Z'",
    );
  });

  it('applies the $__timeGroup compatibility rule (a comma after it adds the alias)', () => {
    expect(expandSql('SELECT $__timeGroup(ts, 1h), v', ctx)).toBe(
      'SELECT floor(extract(epoch from ts)/3600)*3600 AS "time", v',
    );
    expect(expandSql('GROUP BY $__timeGroup(ts, 1h)', ctx)).toBe(
      'GROUP BY floor(extract(epoch from ts)/3600)*3600',
    );
  });

  it('refuses unknown variables and macros, but not dollars inside strings', () => {
    expect(() => expandSql(`SELECT ${variable('tenat', 'sqlstring')}`, ctx)).toThrow(/tenat/);
    expect(() => expandSql('SELECT $__timeFliter(ts)', ctx)).toThrow(/unknown macro/);
    expect(expandSql("SELECT '$notavariable'", ctx)).toBe("SELECT '$notavariable'");
    expect(() => expandPromQL('rate(x{node=~"$nod"}[5m]) + $y', ctx)).toThrow(/\$y/);
  });

  it('renders intervals as Grafana does', () => {
    expect([300_000, 30_000, 3_600_000, 86_400_000, 1500].map(formatInterval)).toEqual([
      '5m',
      '30s',
      '1h',
      '1d',
      '1500ms',
    ]);
  });
});

describe('metric names in PromQL', () => {
  it('finds metrics and skips functions, labels, strings, ranges and grouping', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, kind) (rate(gito_actor_handler_duration_seconds_bucket{node=~".*"}[30s])))',
      ),
    ).toEqual(['gito_actor_handler_duration_seconds_bucket']);
    expect(metricNames('count(count_values("epoch", gito_cluster_epoch))')).toEqual([
      'gito_cluster_epoch',
    ]);
    expect(metricNames('sum(rate(a_total[1m])) / on (node) group_left b_total > bool 0')).toEqual([
      'a_total',
      'b_total',
    ]);
  });

  it('reads families and sampled names from the exposition format', () => {
    const e = parseExposition(
      '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 0\nh_sum 0\nh_count 0\n# TYPE c counter\n',
    );
    expect([...e.families]).toEqual(['h', 'c']);
    expect([...e.sampled]).toEqual(['h_bucket', 'h_sum', 'h_count']);
    expect(familyOf('h_bucket', e.histograms)).toBe('h');
    expect(familyOf('c_count', e.histograms)).toBe('c_count');
  });
});

describe('SQL fragments', () => {
  it('indent inserted multi-line fragments and dedent the whole', () => {
    const inner = sql`
      SELECT 1
      FROM t`;
    expect(sql`
      SELECT * FROM (
        ${inner}
      ) u`).toBe('SELECT * FROM (\n  SELECT 1\n  FROM t\n) u');
    expect(dedent('\n    a\n      b\n')).toBe('a\n  b');
  });
});
