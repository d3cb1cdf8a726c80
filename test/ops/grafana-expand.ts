/**
 * What Grafana does to a query before it reaches the database or Prometheus, so tests can run
 * dashboard queries as Grafana would:
 *
 * 1. the frontend interpolates template variables: `$name`, `${name}`, `${name:format}` and the
 *    globals ($__interval, $__interval_ms, $__range, $__rate_interval...); a name it does not
 *    know is left as is (and fails the check below);
 * 2. for SQL, the PostgreSQL datasource expands its macros ($__timeFilter(col), $__timeGroup,
 *    $__timeGroupAlias, $__timeFrom(), $__timeTo()...), ported from Grafana's
 *    pkg/tsdb/grafana-postgresql-datasource/macros.go (time_bucket with the TimescaleDB switch on,
 *    floor(extract(epoch ...)) otherwise).
 */

export interface ExpandContext {
  readonly from: Date;
  readonly to: Date;
  readonly intervalMs: number;
  /** Dashboard variables by name, as their selected (single) value. */
  readonly variables: Readonly<Record<string, string>>;
  /** The datasource's TimescaleDB switch (jsonData.timescaledb). */
  readonly timescaledb?: boolean;
  /** Prometheus only: $__rate_interval. */
  readonly rateInterval?: string;
}

/** 300000 -> '5m', 1500 -> '1500ms', as Grafana renders $__interval. */
export function formatInterval(ms: number): string {
  const units: Array<[string, number]> = [
    ['y', 365 * 86_400_000],
    ['w', 7 * 86_400_000],
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** Grafana's gtime.ParseInterval for the forms dashboards use: '5m', '30s', '1h', '500ms'. */
export function parseIntervalSeconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/.exec(text.trim().replace(/^'|'$/g, ''));
  if (m === null) throw new Error(`error parsing interval ${text}`);
  const scale = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 }[
    m[2] as 'ms' | 's' | 'm' | 'h' | 'd' | 'w' | 'y'
  ];
  return Number(m[1]) * scale;
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function regexEscape(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

function globals(ctx: ExpandContext): Record<string, string> {
  const rangeMs = ctx.to.getTime() - ctx.from.getTime();
  return {
    __interval: formatInterval(ctx.intervalMs),
    __interval_ms: String(ctx.intervalMs),
    __range: formatInterval(Math.round(rangeMs / 1000) * 1000),
    __range_s: String(Math.round(rangeMs / 1000)),
    __range_ms: String(rangeMs),
    __rate_interval: ctx.rateInterval ?? formatInterval(Math.max(ctx.intervalMs, 60_000)),
    __from: String(ctx.from.getTime()),
    __to: String(ctx.to.getTime()),
  };
}

/** Step 1: template variables (`format` applies where the query names none). */
export function interpolateVariables(
  text: string,
  ctx: ExpandContext,
  defaultFormat: 'raw' | 'regex' = 'raw',
): string {
  const values: Record<string, string> = { ...globals(ctx), ...ctx.variables };
  const format = (value: string, how: string | undefined, name: string): string => {
    switch (how ?? defaultFormat) {
      case 'raw':
        return value;
      case 'sqlstring':
        return sqlString(value);
      case 'regex':
        // Grafana regex-escapes single values used in Prometheus queries; '.*' (an All value) is
        // passed through as written.
        return value === '.*' ? value : regexEscape(value);
      default:
        throw new Error(`variable ${name}: format ${how} is not one the dashboards use`);
    }
  };
  return text.replace(
    /\$\{(\w+)(?::(\w+))?\}|\$(\w+)/g,
    (whole, braced: string | undefined, how: string | undefined, bare: string | undefined) => {
      const name = braced ?? bare ?? '';
      const value = values[name];
      // Unknown names stay: macros ($__timeFilter) look the same and are expanded next.
      if (value === undefined) return whole;
      return format(value, how, name);
    },
  );
}

function rfc3339(date: Date): string {
  return date.toISOString();
}

/** Step 2: the PostgreSQL datasource's macros. */
export function expandPostgresMacros(sql: string, ctx: ExpandContext): string {
  const timeGroup = (args: string[], alias: boolean): string => {
    if (args.length < 2) {
      throw new Error('macro __timeGroup needs time column and interval and optional fill value');
    }
    if (args.length > 2) throw new Error('fill modes are not used by the dashboards');
    const seconds = parseIntervalSeconds(args[1]!);
    const group = ctx.timescaledb
      ? `time_bucket('${seconds.toFixed(3)}s',${args[0]})`
      : `floor(extract(epoch from ${args[0]})/${seconds})*${seconds}`;
    return alias ? `${group} AS "time"` : group;
  };
  return sql.replace(
    /\$([_a-zA-Z0-9]+)\(([^)]*)\)/g,
    (whole, name: string, rawArgs: string, offset: number) => {
      const args = rawArgs.split(',').map((a) => a.trim());
      const needColumn = () => {
        if (args[0] === undefined || args[0] === '') {
          throw new Error(`missing time column argument for macro ${name}`);
        }
        return args[0];
      };
      switch (name) {
        case '__time':
          return `${needColumn()} AS "time"`;
        case '__timeEpoch':
          return `extract(epoch from ${needColumn()}) as "time"`;
        case '__timeFilter':
          return `${needColumn()} BETWEEN '${rfc3339(ctx.from)}' AND '${rfc3339(ctx.to)}'`;
        case '__timeFrom':
          return `'${rfc3339(ctx.from)}'`;
        case '__timeTo':
          return `'${rfc3339(ctx.to)}'`;
        case '__timeGroup':
          // Grafana's pre-5.3 compatibility: followed by a comma, it also adds AS "time".
          return timeGroup(args, sql[offset + whole.length] === ',');
        case '__timeGroupAlias':
          return timeGroup(args, true);
        case '__unixEpochFilter': {
          const col = needColumn();
          const from = Math.floor(ctx.from.getTime() / 1000);
          const to = Math.floor(ctx.to.getTime() / 1000);
          return `${col} >= ${from} AND ${col} <= ${to}`;
        }
        default:
          throw new Error(`unknown macro "${name}"`);
      }
    },
  );
}

/** Fails on anything left that Grafana would not have replaced: a typo'd variable or macro. */
function assertNothingLeft(text: string, what: string): void {
  // Dollar signs inside string literals are data, not variables.
  const outsideStrings = text.replace(/'(?:[^']|'')*'/g, "''").replace(/"(?:[^"])*"/g, '""');
  const left = /\$\{?\w+/.exec(outsideStrings);
  if (left !== null) throw new Error(`${what}: '${left[0]}' was not interpolated`);
}

/** A dashboard SQL target as the PostgreSQL datasource would run it. */
export function expandSql(sql: string, ctx: ExpandContext): string {
  const expanded = expandPostgresMacros(interpolateVariables(sql, ctx), ctx);
  assertNothingLeft(expanded, 'SQL');
  return expanded;
}

/** A dashboard PromQL expression as Grafana would send it to Prometheus. */
export function expandPromQL(expr: string, ctx: ExpandContext): string {
  const expanded = interpolateVariables(expr, ctx, 'regex');
  assertNothingLeft(expanded, 'PromQL');
  return expanded;
}
