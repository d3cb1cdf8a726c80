/**
 * The part of Grafana's dashboard JSON model (schemaVersion 39, Grafana 10.4 to 11) that Gito's
 * dashboards use. @grafana/schema is not a dependency: these types are the subset we emit,
 * written from its TypeScript definitions, so a misspelt field fails to compile instead of being
 * silently ignored by Grafana.
 */

export interface DataSourceRef {
  readonly type: 'grafana-postgresql-datasource' | 'prometheus';
  readonly uid: string;
}

/** A PostgreSQL query in code mode. `time_series` results need a `time` column. */
export interface SqlTarget {
  readonly refId: string;
  readonly datasource: DataSourceRef;
  readonly rawSql: string;
  readonly format: 'time_series' | 'table';
  readonly rawQuery: true;
  readonly editorMode: 'code';
}

export interface PromTarget {
  readonly refId: string;
  readonly datasource: DataSourceRef;
  readonly expr: string;
  readonly legendFormat: string;
  readonly range: boolean;
  readonly instant: boolean;
  readonly editorMode: 'code';
}

export type Target = SqlTarget | PromTarget;

export interface GridPos {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

export interface Threshold {
  readonly color: string;
  /** null = the base step (from minus infinity). */
  readonly value: number | null;
}

export interface FieldDefaults {
  readonly unit?: string;
  readonly decimals?: number;
  readonly min?: number;
  readonly max?: number;
  readonly thresholds?: { readonly mode: 'absolute' | 'percentage'; readonly steps: Threshold[] };
  readonly color?: {
    readonly mode: 'palette-classic' | 'thresholds' | 'fixed';
    fixedColor?: string;
  };
  readonly custom?: Record<string, string | number | boolean | Record<string, string | number>>;
  readonly mappings?: readonly ValueMapping[];
}

export interface ValueMapping {
  readonly type: 'value';
  readonly options: Record<string, { readonly text?: string; readonly color?: string }>;
}

export interface FieldOverride {
  readonly matcher: { readonly id: 'byName' | 'byRegexp'; readonly options: string };
  readonly properties: ReadonlyArray<{ readonly id: string; readonly value: unknown }>;
}

export interface FieldConfig {
  readonly defaults: FieldDefaults;
  readonly overrides: readonly FieldOverride[];
}

interface Legend {
  readonly displayMode: 'list' | 'table' | 'hidden';
  readonly placement: 'bottom' | 'right';
  readonly showLegend: boolean;
  readonly calcs: readonly string[];
}

export interface TimeseriesOptions {
  readonly legend: Legend;
  readonly tooltip: { readonly mode: 'single' | 'multi'; readonly sort: 'none' | 'desc' };
}

export interface StatOptions {
  readonly reduceOptions: {
    readonly calcs: readonly string[];
    readonly fields: string;
    readonly values: boolean;
  };
  readonly colorMode: 'value' | 'background' | 'none';
  readonly graphMode: 'area' | 'none';
  readonly justifyMode: 'auto';
  readonly orientation: 'auto' | 'horizontal' | 'vertical';
  readonly textMode: 'auto' | 'value_and_name' | 'value' | 'name';
}

export interface TableOptions {
  readonly showHeader: boolean;
  readonly cellHeight: 'sm' | 'md';
  readonly footer: { readonly show: boolean; readonly reducer: readonly string[] };
}

export interface PieChartOptions {
  readonly pieType: 'pie' | 'donut';
  readonly reduceOptions: StatOptions['reduceOptions'];
  readonly legend: Legend & { readonly values: readonly string[] };
  readonly tooltip: TimeseriesOptions['tooltip'];
}

export interface BarGaugeOptions {
  readonly reduceOptions: StatOptions['reduceOptions'];
  readonly orientation: 'horizontal' | 'vertical';
  readonly displayMode: 'gradient' | 'basic' | 'lcd';
  readonly showUnfilled: boolean;
}

interface PanelBase {
  readonly id: number;
  readonly title: string;
  readonly description: string;
  readonly gridPos: GridPos;
  readonly datasource: DataSourceRef;
  readonly targets: readonly Target[];
  readonly fieldConfig: FieldConfig;
  /** Grafana-side transformations (e.g. turning a table into rows per series). */
  readonly transformations?: ReadonlyArray<{ readonly id: string; readonly options: object }>;
}

export type DataPanel =
  | (PanelBase & { readonly type: 'timeseries'; readonly options: TimeseriesOptions })
  | (PanelBase & { readonly type: 'stat'; readonly options: StatOptions })
  | (PanelBase & { readonly type: 'table'; readonly options: TableOptions })
  | (PanelBase & { readonly type: 'piechart'; readonly options: PieChartOptions })
  | (PanelBase & { readonly type: 'bargauge'; readonly options: BarGaugeOptions });

export interface RowPanel {
  readonly id: number;
  readonly type: 'row';
  readonly title: string;
  readonly collapsed: false;
  readonly gridPos: GridPos;
  readonly panels: readonly [];
}

export type Panel = DataPanel | RowPanel;

export interface VariableOption {
  readonly text: string;
  readonly value: string;
  readonly selected: boolean;
}

interface VariableBase {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  /** 0 = shown, 1 = value only, 2 = hidden. */
  readonly hide: 0 | 1 | 2;
  readonly skipUrlSync: boolean;
}

/** A variable filled by a query; SQL variables may return __text/__value columns. */
export interface QueryVariable extends VariableBase {
  readonly type: 'query';
  readonly datasource: DataSourceRef;
  readonly query: string;
  readonly definition: string;
  /** 1 = on dashboard load, 2 = on time range change. */
  readonly refresh: 1 | 2;
  readonly multi: boolean;
  readonly includeAll: boolean;
  readonly allValue?: string;
  /** 0 = as the query returns them, 1 = alphabetical. */
  readonly sort: 0 | 1;
  readonly regex: '';
  readonly current: Record<string, never>;
  readonly options: readonly [];
}

export interface TextboxVariable extends VariableBase {
  readonly type: 'textbox';
  readonly query: string;
  readonly current: { readonly text: string; readonly value: string };
  readonly options: readonly VariableOption[];
}

export type Variable = QueryVariable | TextboxVariable;

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly timezone: 'browser' | 'utc';
  readonly schemaVersion: number;
  readonly version: number;
  readonly editable: boolean;
  readonly graphTooltip: 0 | 1 | 2;
  readonly refresh: string;
  readonly time: { readonly from: string; readonly to: string };
  readonly templating: { readonly list: readonly Variable[] };
  readonly annotations: { readonly list: readonly object[] };
  readonly links: ReadonlyArray<{
    readonly title: string;
    readonly type: 'dashboards';
    readonly tags: readonly string[];
    readonly asDropdown: boolean;
    readonly includeVars: boolean;
    readonly keepTime: boolean;
  }>;
  readonly panels: readonly Panel[];
}
