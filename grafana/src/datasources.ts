import type { DataSourceRef } from './types.ts';

/**
 * The datasources the dashboards use, by the uids that grafana/provisioning/datasources/gito.yml
 * gives them (test/ops checks that every uid a dashboard names is provisioned).
 */
export const POSTGRES: DataSourceRef = {
  type: 'grafana-postgresql-datasource',
  uid: 'gito-postgres',
};
export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: 'gito-prometheus' };
