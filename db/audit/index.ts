// The audit log: hash-chained records per tenant (see docs/audit-and-gdpr.md).

export { inTransaction } from '../sql.ts';
export {
  type AppendedRecord,
  appendPreparedInTransaction,
  type ChainHead,
  lockChainHead,
} from './append.ts';
export { canonicalJson, toJsonValue } from './canonical.ts';
export { GENESIS_HASH, personalDigest, recordHash } from './chain.ts';
export { CSV_COLUMNS, csvHeader, csvLine, jsonLine } from './format.ts';
export { type PersonalMatcher, type PersonalTerms, personalMatcher } from './matchers.ts';
export { registerAuditMetrics } from './metrics.ts';
export { DEFAULT_MAX_DIFF_BYTES, type PreparedEntry, prepareEntry } from './prepare.ts';
export {
  type PseudonymisedList,
  type PseudonymiseSpec,
  pseudonymiseAuditRecords,
} from './pseudonymise.ts';
export {
  type AuditFilter,
  type AuditPage,
  exportAudit,
  likeEscape,
  MAX_PAGE_SIZE,
  searchAudit,
} from './query.ts';
export {
  ACTOR_KINDS,
  type ActorKind,
  AUDIT_OUTCOMES,
  type AuditActor,
  type AuditDiff,
  type AuditEntry,
  AuditEntryError,
  type AuditOutcome,
  type AuditRecord,
  ERASURE_ACTION,
  GLOBAL_CHAIN,
  RETENTION_ACTION,
} from './record.ts';
export { recordAudit, recordAuditInTransaction } from './record-audit.ts';
export { REDACTED, redactSecrets } from './redact.ts';
export {
  type AuditRetentionOptions,
  type AuditRetentionResult,
  type AuditRetentionSchedule,
  applyAuditRetention,
  DEFAULT_GLOBAL_RETENTION_DAYS,
  scheduleAuditRetention,
  setAuditRetention,
} from './retention.ts';
export {
  AUDIT_COLUMNS,
  type AuditRow,
  chainedFieldsOf,
  personalFieldsOf,
  recordOf,
} from './rows.ts';
export { type BrokenLink, type VerifyResult, verifyAuditChain } from './verify.ts';
export {
  AuditLog,
  AuditWriteError,
  type AuditWriterOptions,
  AuditWriterStats,
  isTransient,
} from './writer.ts';
