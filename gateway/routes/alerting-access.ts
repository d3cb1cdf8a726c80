import type { AlertChange, AlertStore } from '../../db/alerts/alert-store.ts';

/** What the rule, maintenance and alert routes need from the node's alerting core. */
export interface AlertingAccess {
  readonly alerts: AlertStore;
  /** Re-read rules and windows now (other nodes follow through NOTIFY and polling). */
  refreshRules(): Promise<void>;
  /** For backtests run in worker threads (each opens its own connection). */
  readonly databaseUrl: string;
  /** Committed alert changes made through the API (live stream, metrics). */
  announce?(change: AlertChange): void;
}
