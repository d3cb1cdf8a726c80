/**
 * Encoders for `COPY telemetry (device_id, ts, metrics) FROM STDIN`.
 *
 * Rows arrive here validated (see writer.ts): a safe-integer or decimal-string device id, a
 * finite ts in ms, and metrics already serialised as JSON text that JSONB accepts.
 *
 * Binary is the default: the server parses neither the bigint nor the timestamp, and the client
 * skips Date#toISOString and COPY text escaping. The JSONB field is still JSON text (binary jsonb
 * is a version byte followed by the text), so the server's JSON parse remains the dominant cost.
 */

export interface EncodedRow {
  readonly deviceId: number | string;
  readonly ts: number;
  /** JSON text of the metrics object. */
  readonly json: string;
}

/** ms between 1970-01-01 and 2000-01-01, PostgreSQL's epoch for binary timestamps. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 4_294_967_296;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Per row: field count (2) + 3 lengths (12) + int64 (8) + int64 (8) + jsonb version (1). */
const ROW_OVERHEAD = 31;

/** One COPY ... (FORMAT binary) payload: header, rows, trailer. */
export function encodeBinary(rows: readonly EncodedRow[]): Buffer {
  const lengths = new Int32Array(rows.length);
  let total = SIGNATURE.length + 8 + 2;
  for (let i = 0; i < rows.length; i++) {
    const n = Buffer.byteLength(rows[i]!.json, 'utf8');
    lengths[i] = n;
    total += ROW_OVERHEAD + n;
  }
  const buf = Buffer.allocUnsafe(total);
  let o = SIGNATURE.copy(buf, 0);
  buf.writeInt32BE(0, o); // flags
  buf.writeInt32BE(0, o + 4); // header extension length
  o += 8;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    buf.writeInt16BE(3, o);
    buf.writeInt32BE(8, o + 2);
    o = writeInt64(buf, o + 6, row.deviceId);
    buf.writeInt32BE(8, o);
    // Microseconds since 2000-01-01; exact for ms inputs (|value| < 2^53 until year ~287,000).
    o = writeInt64(buf, o + 4, (row.ts - PG_EPOCH_MS) * 1000);
    const n = lengths[i]!;
    buf.writeInt32BE(n + 1, o);
    buf[o + 4] = 1; // jsonb binary format version
    o += 5;
    o += buf.write(row.json, o, n, 'utf8');
  }
  buf.writeInt16BE(-1, o);
  return buf;
}

function writeInt64(buf: Buffer, offset: number, value: number | string): number {
  if (typeof value === 'string') return buf.writeBigInt64BE(BigInt(value), offset);
  const hi = Math.floor(value / TWO_32);
  buf.writeInt32BE(hi, offset);
  buf.writeUInt32BE(value - hi * TWO_32, offset + 4);
  return offset + 8;
}

/** One COPY ... (FORMAT text) payload. */
export function encodeText(rows: readonly EncodedRow[]): string {
  let out = '';
  for (const row of rows) {
    // JSON text never holds raw tabs or newlines (they are escaped), but its backslashes are
    // COPY's escape character and must be doubled.
    const json = row.json.includes('\\') ? row.json.replace(/\\/g, '\\\\') : row.json;
    out += `${row.deviceId}\t${new Date(row.ts).toISOString()}\t${json}\n`;
  }
  return out;
}
