// The alert stores use the shared helpers (db/sql.ts).
export { inTransaction, msColumn, msParam } from '../sql.ts';
