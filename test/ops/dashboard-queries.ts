import { DASHBOARDS } from '../../grafana/src/index.ts';
import type { PromTarget, SqlTarget, Variable } from '../../grafana/src/types.ts';

/** One query of a dashboard (panel target or variable), named for test titles. */
export interface DashboardQuery<T> {
  readonly dashboard: string;
  readonly where: string;
  readonly query: T;
}

export interface SqlQuery {
  readonly sql: string;
  readonly format: SqlTarget['format'] | 'variable';
}

function variableQueries(
  dashboard: string,
  variables: readonly Variable[],
  type: 'grafana-postgresql-datasource' | 'prometheus',
) {
  return variables.flatMap((v) =>
    v.type === 'query' && v.datasource.type === type
      ? [{ dashboard, where: `variable $${v.name}`, name: v.name, text: v.query }]
      : [],
  );
}

/** Every SQL query of every dashboard: variables first (in dashboard order), then panels. */
export function sqlQueries(): DashboardQuery<SqlQuery>[] {
  return DASHBOARDS.flatMap(({ dashboard }) => [
    ...variableQueries(
      dashboard.title,
      dashboard.templating.list,
      'grafana-postgresql-datasource',
    ).map((v) => ({
      dashboard: v.dashboard,
      where: v.where,
      query: { sql: v.text, format: 'variable' as const },
    })),
    ...dashboard.panels.flatMap((p) =>
      p.type === 'row'
        ? []
        : p.targets.flatMap((t) =>
            'rawSql' in t
              ? [
                  {
                    dashboard: dashboard.title,
                    where: `panel '${p.title}' ${t.refId}`,
                    query: { sql: t.rawSql, format: t.format },
                  },
                ]
              : [],
          ),
    ),
  ]);
}

/** Every PromQL expression of every dashboard, including label_values() variable queries. */
export function promQueries(): DashboardQuery<{
  readonly expr: string;
  readonly variable: boolean;
}>[] {
  return DASHBOARDS.flatMap(({ dashboard }) => [
    ...variableQueries(dashboard.title, dashboard.templating.list, 'prometheus').map((v) => ({
      dashboard: v.dashboard,
      where: v.where,
      query: { expr: v.text, variable: true },
    })),
    ...dashboard.panels.flatMap((p) =>
      p.type === 'row'
        ? []
        : p.targets.flatMap((t) =>
            'expr' in t
              ? [
                  {
                    dashboard: dashboard.title,
                    where: `panel '${p.title}' ${t.refId}`,
                    query: { expr: (t as PromTarget).expr, variable: false },
                  },
                ]
              : [],
          ),
    ),
  ]);
}
