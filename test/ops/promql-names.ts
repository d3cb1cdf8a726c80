/**
 * The metric names a PromQL expression reads, found by removing what cannot be a metric name
 * (strings, label matchers, ranges, grouping clauses, function calls, keywords). Enough for the
 * expressions dashboards use; it errs towards reporting too much, which the test would flag.
 */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after)) continue; // a function or an aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

/** The family a series name belongs to: histogram and summary series end in _bucket/_sum/_count. */
export function familyOf(name: string, histograms: ReadonlySet<string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix) && histograms.has(name.slice(0, -suffix.length))) {
      return name.slice(0, -suffix.length);
    }
  }
  return name;
}

export interface Exposition {
  /** Families declared by # TYPE lines. */
  readonly families: ReadonlySet<string>;
  /** The histogram and summary families among them. */
  readonly histograms: ReadonlySet<string>;
  /** Names that have at least one sample (histograms as name_bucket, _sum, _count). */
  readonly sampled: ReadonlySet<string>;
}

/** Parses the Prometheus text format far enough to know which names are exposed. */
export function parseExposition(text: string): Exposition {
  const families = new Set<string>();
  const histograms = new Set<string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type !== null) {
      families.add(type[1]!);
      if (type[2] === 'histogram' || type[2] === 'summary') histograms.add(type[1]!);
    } else if (line !== '' && !line.startsWith('#')) {
      const name = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line);
      if (name !== null) sampled.add(name[0]);
    }
  }
  return { families, histograms, sampled };
}
