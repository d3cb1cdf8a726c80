/**
 * Small builders for Grafana dashboards: panels are described by what they show (queries, unit,
 * size), then `layout` places them on Grafana's 24-column grid and numbers them, so positions and
 * ids are never written by hand.
 */
import { POSTGRES, PROMETHEUS } from './datasources.ts';
import type {
  Dashboard,
  DataPanel,
  DataSourceRef,
  FieldDefaults,
  FieldOverride,
  GridPos,
  Panel,
  QueryVariable,
  Target,
  TextboxVariable,
  Threshold,
  ValueMapping,
  Variable,
} from './types.ts';

export const GRID_COLUMNS = 24;

/** A SQL query (PostgreSQL datasource) or a PromQL expression (Prometheus datasource). */
export type Query =
  | { readonly sql: string; readonly format?: 'time_series' | 'table' }
  | { readonly expr: string; readonly legend: string; readonly instant?: boolean };

/** A panel that knows its size but not yet its place or id. */
export interface Draft {
  readonly w: number;
  readonly h: number;
  place(id: number, gridPos: GridPos): DataPanel;
}

export interface Section {
  /** A row header above the section; omitted for the first, untitled section. */
  readonly title?: string;
  readonly rows: ReadonlyArray<readonly Draft[]>;
}

/** Strips the common indentation of a multi-line template literal (SQL written inline). */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').replace(/\s+$/, '').split('\n');
  const indent = Math.min(
    ...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length),
  );
  if (!Number.isFinite(indent)) return '';
  return lines.map((l) => l.slice(indent).trimEnd()).join('\n');
}

/**
 * A template tag for SQL written inline: a multi-line value is indented to the column of the line
 * it is inserted in, then the whole text is dedented, so fragments compose into readable SQL.
 */
export function sql(
  strings: TemplateStringsArray,
  ...values: ReadonlyArray<string | number>
): string {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    const lineStart = out.lastIndexOf('\n') + 1;
    const indent = /^[ ]*/.exec(out.slice(lineStart))?.[0] ?? '';
    out += dedent(String(value)).split('\n').join(`\n${indent}`);
    out += strings[i + 1] ?? '';
  });
  return dedent(out);
}

/** `${name}` or `${name:format}`: Grafana's variable syntax, kept out of TS template literals. */
export function variable(name: string, format?: 'sqlstring' | 'raw' | 'regex'): string {
  return `$\{${name}${format === undefined ? '' : `:${format}`}}`;
}

function datasourceOf(queries: readonly Query[], title: string): DataSourceRef {
  const sql = queries.filter((q) => 'sql' in q).length;
  if (sql === queries.length) return POSTGRES;
  if (sql === 0) return PROMETHEUS;
  throw new Error(`panel '${title}' mixes SQL and PromQL queries`);
}

function targetsOf(
  queries: readonly Query[],
  datasource: DataSourceRef,
  fallback: 'time_series' | 'table',
): Target[] {
  return queries.map((q, i): Target => {
    const refId = String.fromCharCode(65 + i);
    if ('sql' in q) {
      return {
        refId,
        datasource,
        rawSql: dedent(q.sql),
        format: q.format ?? fallback,
        rawQuery: true,
        editorMode: 'code',
      };
    }
    return {
      refId,
      datasource,
      expr: q.expr,
      legendFormat: q.legend,
      range: q.instant !== true,
      instant: q.instant === true,
      editorMode: 'code',
    };
  });
}

interface Common {
  readonly title: string;
  readonly description: string;
  readonly w: number;
  readonly h?: number;
  readonly queries: readonly Query[];
  readonly unit?: string;
  readonly decimals?: number;
  readonly min?: number;
  readonly max?: number;
  readonly thresholds?: readonly Threshold[];
  readonly mappings?: readonly ValueMapping[];
  readonly overrides?: readonly FieldOverride[];
}

function defaults(spec: Common, custom?: FieldDefaults['custom']): FieldDefaults {
  return {
    ...(spec.unit === undefined ? {} : { unit: spec.unit }),
    ...(spec.decimals === undefined ? {} : { decimals: spec.decimals }),
    ...(spec.min === undefined ? {} : { min: spec.min }),
    ...(spec.max === undefined ? {} : { max: spec.max }),
    ...(spec.thresholds === undefined
      ? {}
      : { thresholds: { mode: 'absolute', steps: [...spec.thresholds] } }),
    ...(spec.mappings === undefined ? {} : { mappings: spec.mappings }),
    color: { mode: spec.thresholds === undefined ? 'palette-classic' : 'thresholds' },
    ...(custom === undefined ? {} : { custom }),
  };
}

function base(spec: Common, fallback: 'time_series' | 'table') {
  const datasource = datasourceOf(spec.queries, spec.title);
  return {
    title: spec.title,
    description: spec.description,
    datasource,
    targets: targetsOf(spec.queries, datasource, fallback),
  };
}

/** Sets a unit on the named columns of a table (or series of a chart). */
export function unitOf(columns: readonly string[], unit: string): FieldOverride[] {
  return columns.map((c) => ({
    matcher: { id: 'byName', options: c },
    properties: [{ id: 'unit', value: unit }],
  }));
}

const LEGEND = { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] } as const;

export function timeseries(
  spec: Common & {
    readonly stack?: boolean;
    readonly bars?: boolean;
    readonly fillOpacity?: number;
  },
): Draft {
  return {
    w: spec.w,
    h: spec.h ?? 8,
    place: (id, gridPos) => ({
      id,
      type: 'timeseries',
      gridPos,
      ...base(spec, 'time_series'),
      fieldConfig: {
        defaults: defaults(spec, {
          drawStyle: spec.bars === true ? 'bars' : 'line',
          lineWidth: 1,
          fillOpacity: spec.fillOpacity ?? (spec.bars === true ? 80 : 10),
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: spec.stack === true ? 'normal' : 'none', group: 'A' },
        }),
        overrides: [...(spec.overrides ?? [])],
      },
      options: { legend: LEGEND, tooltip: { mode: 'multi', sort: 'desc' } },
    }),
  };
}

export function stat(
  spec: Common & {
    readonly graph?: boolean;
    readonly textMode?: 'auto' | 'value_and_name' | 'value';
    /** Reduce every row (true) or the last value of each column (false, the default). */
    readonly allValues?: boolean;
  },
): Draft {
  return {
    w: spec.w,
    h: spec.h ?? 4,
    place: (id, gridPos) => ({
      id,
      type: 'stat',
      gridPos,
      ...base(spec, 'table'),
      fieldConfig: { defaults: defaults(spec), overrides: [...(spec.overrides ?? [])] },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: spec.allValues === true },
        colorMode: spec.thresholds === undefined ? 'none' : 'value',
        graphMode: spec.graph === true ? 'area' : 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: spec.textMode ?? 'auto',
      },
    }),
  };
}

export function table(spec: Common & { readonly footer?: boolean }): Draft {
  return {
    w: spec.w,
    h: spec.h ?? 8,
    place: (id, gridPos) => ({
      id,
      type: 'table',
      gridPos,
      ...base(spec, 'table'),
      fieldConfig: { defaults: defaults(spec), overrides: [...(spec.overrides ?? [])] },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: spec.footer === true, reducer: ['sum'] },
      },
    }),
  };
}

/** One slice per row of a table result: a text column names it, a number column sizes it. */
export function piechart(spec: Common): Draft {
  return {
    w: spec.w,
    h: spec.h ?? 8,
    place: (id, gridPos) => ({
      id,
      type: 'piechart',
      gridPos,
      ...base(spec, 'table'),
      fieldConfig: { defaults: defaults(spec), overrides: [...(spec.overrides ?? [])] },
      options: {
        pieType: 'donut',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true },
        legend: { ...LEGEND, placement: 'right', values: ['value', 'percent'] },
        tooltip: { mode: 'single', sort: 'none' },
      },
    }),
  };
}

/** One bar per row of a table result. */
export function bargauge(spec: Common): Draft {
  return {
    w: spec.w,
    h: spec.h ?? 8,
    place: (id, gridPos) => ({
      id,
      type: 'bargauge',
      gridPos,
      ...base(spec, 'table'),
      fieldConfig: { defaults: defaults(spec), overrides: [...(spec.overrides ?? [])] },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true },
        orientation: 'horizontal',
        displayMode: 'gradient',
        showUnfilled: true,
      },
    }),
  };
}

/**
 * Places sections top to bottom: a row header per titled section, then each row of drafts left
 * to right (a row's height is its tallest panel). Ids are 1, 2, 3... in reading order.
 */
export function layout(sections: readonly Section[]): Panel[] {
  const panels: Panel[] = [];
  let y = 0;
  let id = 1;
  for (const section of sections) {
    if (section.title !== undefined) {
      panels.push({
        id: id++,
        type: 'row',
        title: section.title,
        collapsed: false,
        gridPos: { x: 0, y, w: GRID_COLUMNS, h: 1 },
        panels: [],
      });
      y += 1;
    }
    for (const row of section.rows) {
      const width = row.reduce((sum, d) => sum + d.w, 0);
      if (width > GRID_COLUMNS) {
        throw new Error(`a row of section '${section.title ?? ''}' is ${width} columns wide`);
      }
      let x = 0;
      for (const draft of row) {
        panels.push(draft.place(id++, { x, y, w: draft.w, h: draft.h }));
        x += draft.w;
      }
      y += Math.max(...row.map((d) => d.h));
    }
  }
  return panels;
}

export function queryVariable(spec: {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly datasource: DataSourceRef;
  readonly query: string;
  readonly refresh?: 1 | 2;
  readonly hide?: 0 | 2;
  readonly sort?: 0 | 1;
  readonly multi?: boolean;
  readonly allValue?: string;
}): QueryVariable {
  const query = spec.datasource === POSTGRES ? dedent(spec.query) : spec.query;
  return {
    type: 'query',
    name: spec.name,
    label: spec.label,
    description: spec.description,
    hide: spec.hide ?? 0,
    skipUrlSync: false,
    datasource: spec.datasource,
    query,
    definition: query,
    refresh: spec.refresh ?? 1,
    multi: spec.multi ?? false,
    includeAll: spec.allValue !== undefined,
    ...(spec.allValue === undefined ? {} : { allValue: spec.allValue }),
    sort: spec.sort ?? 0,
    regex: '',
    current: {},
    options: [],
  };
}

export function textboxVariable(spec: {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly value: string;
}): TextboxVariable {
  return {
    type: 'textbox',
    name: spec.name,
    label: spec.label,
    description: spec.description,
    hide: 0,
    skipUrlSync: false,
    query: spec.value,
    current: { text: spec.value, value: spec.value },
    options: [{ text: spec.value, value: spec.value, selected: true }],
  };
}

export function dashboard(spec: {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly variables: readonly Variable[];
  readonly sections: readonly Section[];
  readonly from?: string;
  readonly refresh?: string;
}): Dashboard {
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['gito'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    refresh: spec.refresh ?? '1m',
    time: { from: spec.from ?? 'now-24h', to: 'now' },
    templating: { list: spec.variables },
    annotations: { list: [] },
    links: [
      {
        title: 'Gito dashboards',
        type: 'dashboards',
        tags: ['gito'],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
      },
    ],
    panels: layout(spec.sections),
  };
}
