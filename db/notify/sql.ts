// The notification stores use the shared helpers (db/sql.ts).
export { inTransaction, ms, msColumn, msParam, type Queryable } from '../sql.ts';
