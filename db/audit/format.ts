import type { AuditRecord } from './record.ts';

/** Export formats: CSV (spreadsheets) and JSON lines (tools). One line per record. */

export const CSV_COLUMNS = [
  'seq',
  'at',
  'actor_kind',
  'actor_id',
  'actor_display',
  'action',
  'resource_type',
  'resource_id',
  'outcome',
  'status',
  'request_id',
  'ip',
  'user_agent',
  'diff',
  'prev_hash',
  'hash',
] as const;

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvLine(record: AuditRecord): string {
  const cells: Array<string | number | null> = [
    record.seq,
    record.at,
    record.actor.kind,
    record.actor.id,
    record.actor.display,
    record.action,
    record.resource.type,
    record.resource.id,
    record.result.outcome,
    record.result.status,
    record.requestId,
    record.ip,
    record.userAgent,
    record.diff === null ? null : JSON.stringify(record.diff),
    record.prevHash,
    record.hash,
  ];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * RFC 4180 quoting, plus a leading apostrophe on text a spreadsheet would run as a formula
 * (=, +, -, @, tab, CR): audit data comes from users and must not execute when opened.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function jsonLine(record: AuditRecord): string {
  return `${JSON.stringify(record)}\n`;
}
