/**
 * Telemetry payload parsing: JSON object in, flat validated metrics and a time out.
 * Pure, synchronous, never throws. Rules and reasons: docs/ingestion.md, "Payloads".
 */
import { isUtf8 } from 'node:buffer';
import { quote } from './topics.ts';
import type { BadInputReason, IngestLimits } from './types.ts';

export type MetricValue = number | string | boolean;
export type Metrics = Record<string, MetricValue>;

export interface Refusal {
  readonly ok: false;
  readonly reason: BadInputReason;
  readonly detail: string;
}

export type PayloadResult =
  | {
      readonly ok: true;
      /** Device time if the payload carried one, else `receivedAt` (ms since epoch). */
      readonly ts: number;
      /** Whether `ts` came from the payload. */
      readonly deviceTime: boolean;
      readonly metrics: Metrics;
    }
  | Refusal;

/** Separator of flattened key segments: `{"SI7021":{"Temperature":1}}` -> `SI7021__Temperature`. */
export const KEY_SEPARATOR = '__';
/** Top-level keys that carry the device's time, in order of precedence. Never metrics. */
export const TIME_KEYS = ['ts', 'timestamp', 'time'] as const;
/** Epoch numbers below this are seconds, at or above it milliseconds (1e11 s is year 5138). */
export const EPOCH_SECONDS_BELOW = 1e11;
/** Device times before this are refused (2000-01-01T00:00:00Z): a clock that was never set. */
export const MIN_DEVICE_TIME = Date.UTC(2000, 0, 1);
/** Device times more than this far after the receive time are refused. */
export const MAX_CLOCK_AHEAD_MS = 86_400_000;

const DEFAULT_MAX_KEY_LENGTH = 128;
const DEFAULT_MAX_STRING_LENGTH = 1_024;
/** Nesting is flattened recursively; this bounds the recursion whatever `maxDepth` says. */
const DEPTH_CEILING = 64;

export function refuse(reason: BadInputReason, detail: string): Refusal {
  return { ok: false, reason, detail };
}

/** `1e12` rather than `1000000000000` in details. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  return Number.isFinite(v) && a >= 1e6 ? v.toExponential().replace('e+', 'e') : String(v);
}

function isoOrNumber(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : formatNumber(ms);
}

/**
 * Size check, UTF-8 check, optional BOM, JSON.parse. The value is `unknown`: callers check it.
 */
export function decodeJson(
  payload: Uint8Array,
  limits: IngestLimits,
): { readonly ok: true; readonly value: unknown } | Refusal {
  if (payload.length > limits.maxPayloadBytes) {
    return refuse(
      'oversize',
      `payload is ${payload.length} bytes, limit ${limits.maxPayloadBytes}`,
    );
  }
  if (!isUtf8(payload)) return refuse('malformed-json', 'payload is not valid UTF-8');
  let text = Buffer.isBuffer(payload)
    ? payload.toString('utf8')
    : Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8');
  // A UTF-8 byte order mark is legal in UTF-8 but not in JSON; some devices send one.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return refuse('malformed-json', `invalid JSON: ${message.slice(0, 160)}`);
  }
}

/** `an array`, `a string`, `null`: for "expected a JSON object" details. */
export function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Characters refused in keys: C0 controls, DEL, and (checked further) unpaired surrogates.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const KEY_SUSPECT = /[\u0000-\u001f\u007f\ud800-\udfff]/;
// In string values only NUL and unpaired surrogates are refused: PostgreSQL's jsonb rejects both.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const VALUE_SUSPECT = /[\u0000\ud800-\udfff]/;
const UNPAIRED_SURROGATE = /\p{Cs}/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const KEY_CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Memo of flattened keys, `prefix` -> `segment` -> `prefix__segment`. Devices send the same
 * keys message after message; reusing one string per flattened key skips a concatenation and
 * lets V8 reuse the string's hash and internalized form when it becomes a property name
 * (flattening a nested payload took half the time in a scratch benchmark). Bounded: cleared
 * when it holds JOIN_CACHE_MAX keys; keys longer than the key limit (refused anyway) are not
 * kept.
 */
const joinCache = new Map<string, Map<string, string>>();
let joinCacheSize = 0;
/** At most this many flattened keys (of at most `maxKeyLength` chars) are remembered. */
const JOIN_CACHE_MAX = 20_000;

function joinKey(prefix: string, segment: string, maxKey: number): string {
  let joined = joinCache.get(prefix)?.get(segment);
  if (joined !== undefined) return joined;
  joined = prefix + KEY_SEPARATOR + segment;
  if (joined.length <= maxKey) {
    if (joinCacheSize >= JOIN_CACHE_MAX) {
      joinCache.clear();
      joinCacheSize = 0;
    }
    let bySegment = joinCache.get(prefix);
    if (bySegment === undefined) {
      bySegment = new Map();
      joinCache.set(prefix, bySegment);
    }
    bySegment.set(segment, joined);
    joinCacheSize++;
  }
  return joined;
}

/** Flattening state for one message. */
class Flattener {
  count = 0;
  readonly out: Metrics = {};
  readonly maxDepth: number;
  readonly maxAbs: number;
  readonly maxMetrics: number;
  readonly maxKey: number;
  readonly maxString: number;

  constructor(limits: IngestLimits) {
    this.maxDepth = Math.min(limits.maxDepth, DEPTH_CEILING);
    this.maxAbs = limits.maxAbsValue;
    this.maxMetrics = limits.maxMetrics;
    this.maxKey = limits.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
    this.maxString = limits.maxStringLength ?? DEFAULT_MAX_STRING_LENGTH;
  }

  /** Adds `value` under `key` (a key at nesting `level`, 1 = top). */
  add(key: string, value: unknown, level: number): Refusal | undefined {
    switch (typeof value) {
      case 'number':
        // JSON has no NaN, but 1e400 parses to Infinity, which fails this test too.
        if (!(Math.abs(value) <= this.maxAbs)) {
          return refuse(
            'out-of-range',
            `metric ${quote(key)}: ${formatNumber(value)} is beyond ±${formatNumber(this.maxAbs)}`,
          );
        }
        return this.put(key, value);
      case 'string':
        if (value.length > this.maxString) {
          return refuse(
            'oversize',
            `metric ${quote(key)}: string of ${value.length} chars, limit ${this.maxString}`,
          );
        }
        if (
          VALUE_SUSPECT.test(value) &&
          (value.includes('\u0000') || UNPAIRED_SURROGATE.test(value))
        ) {
          return refuse(
            'wrong-type',
            `metric ${quote(key)}: string contains NUL or an unpaired surrogate`,
          );
        }
        return this.put(key, value);
      case 'boolean':
        return this.put(key, value);
      case 'object': {
        if (value === null) return undefined; // nulls are skipped
        if (Array.isArray(value)) {
          return refuse('wrong-type', `metric ${quote(key)}: arrays are not accepted`);
        }
        const obj = value as Record<string, unknown>;
        for (const k in obj) {
          if (level >= this.maxDepth) {
            return refuse(
              'too-deep',
              `key ${quote(key + KEY_SEPARATOR + k)} nests deeper than ${this.maxDepth} levels`,
            );
          }
          if (k === '')
            return refuse('bad-key', `key ${quote(key + KEY_SEPARATOR)} has an empty segment`);
          const r = this.add(joinKey(key, k, this.maxKey), obj[k], level + 1);
          if (r !== undefined) return r;
        }
        return undefined;
      }
      default:
        // Unreachable for JSON.parse output; kept total for other callers.
        return refuse('wrong-type', `metric ${quote(key)}: ${typeof value} is not a metric value`);
    }
  }

  private put(key: string, value: MetricValue): Refusal | undefined {
    if (key.length > this.maxKey) {
      return refuse('bad-key', `key ${quote(key)} is ${key.length} chars, limit ${this.maxKey}`);
    }
    if (KEY_SUSPECT.test(key) && (KEY_CONTROL.test(key) || UNPAIRED_SURROGATE.test(key))) {
      return refuse(
        'bad-key',
        `key ${quote(key)} contains a control character or unpaired surrogate`,
      );
    }
    if (key === '__proto__') return refuse('bad-key', `key '__proto__' is reserved`);
    const out = this.out;
    if (out[key] !== undefined && Object.hasOwn(out, key)) {
      return refuse('bad-key', `key ${quote(key)} occurs twice after flattening`);
    }
    if (++this.count > this.maxMetrics) {
      return refuse('oversize', `more than ${this.maxMetrics} metrics`);
    }
    out[key] = value;
    return undefined;
  }
}

/**
 * Flattens a JSON object into metrics (no time keys: every top-level key is a metric).
 * Exported for tests and for callers that already hold parsed JSON.
 */
export function flattenMetrics(
  obj: Record<string, unknown>,
  limits: IngestLimits,
): { readonly ok: true; readonly metrics: Metrics } | Refusal {
  const f = new Flattener(limits);
  for (const k in obj) {
    if (k === '') return refuse('bad-key', `key '' is empty`);
    const r = f.add(k, obj[k], 1);
    if (r !== undefined) return r;
  }
  return { ok: true, metrics: f.out };
}

/**
 * Reads a telemetry body (a Gito payload, or ChirpStack's decoded `object`) into `f`:
 * top-level `ts`/`timestamp`/`time` give the device time, everything else is a metric.
 * Returns the device time (undefined if none) or a refusal.
 */
function readBody(
  obj: Record<string, unknown>,
  f: Flattener,
  receivedAt: number,
): { readonly ts: number | undefined } | Refusal {
  let ts: unknown;
  let timestamp: unknown;
  let time: unknown;
  for (const k in obj) {
    const v = obj[k];
    if (k === 'ts') ts = v;
    else if (k === 'timestamp') timestamp = v;
    else if (k === 'time') time = v;
    else {
      if (k === '') return refuse('bad-key', `key '' is empty`);
      const r = f.add(k, v, 1);
      if (r !== undefined) return r;
    }
  }
  // The first present, non-null time key wins; the others are ignored.
  let key: string;
  let raw: unknown;
  if (ts !== undefined && ts !== null) {
    key = 'ts';
    raw = ts;
  } else if (timestamp !== undefined && timestamp !== null) {
    key = 'timestamp';
    raw = timestamp;
  } else if (time !== undefined && time !== null) {
    key = 'time';
    raw = time;
  } else {
    return { ts: undefined };
  }
  const t = parseDeviceTime(raw, receivedAt);
  return typeof t === 'number' ? { ts: t } : refuse('bad-timestamp', `'${key}': ${t}`);
}

const EPOCH_STRING = /^\d{1,16}(?:\.\d{1,9})?$/;

/** The number in `s[at, at + n)` if all are ASCII digits, else -1. */
function digitsAt(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1; // also NaN, past the end
    v = v * 10 + d;
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * ISO 8601 (extended) date-time to ms since epoch, or undefined if invalid:
 * `YYYY-MM-DDTHH:MM[:SS[.fraction]][Z | ±HH | ±HH:MM | ±HHMM]`; `T` may be `t` or a space, the
 * fraction 1-9 digits (sub-millisecond digits are dropped). A time without an offset is UTC.
 * Hand-written rather than a regex plus Date.parse: about ten times faster, and strict.
 */
export function parseIsoTime(s: string): number | undefined {
  const len = s.length;
  if (len < 16 || len > 40) return undefined;
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  const sep = s.charCodeAt(10);
  if (
    year < 0 ||
    s.charCodeAt(4) !== 45 || // -
    month < 1 ||
    month > 12 ||
    s.charCodeAt(7) !== 45 ||
    day < 1 ||
    day > daysInMonth(year, month) ||
    (sep !== 84 && sep !== 116 && sep !== 32) || // T t space
    hour < 0 ||
    hour > 23 ||
    s.charCodeAt(13) !== 58 || // :
    minute < 0 ||
    minute > 59
  ) {
    return undefined;
  }
  let i = 16;
  let second = 0;
  let ms = 0;
  if (s.charCodeAt(i) === 58) {
    second = digitsAt(s, i + 1, 2);
    if (second < 0 || second > 59) return undefined;
    i += 3;
    const dot = s.charCodeAt(i);
    if (dot === 46 || dot === 44) {
      // . or ,
      i++;
      const from = i;
      let scale = 100;
      while (i < len) {
        const d = s.charCodeAt(i) - 48;
        if (d < 0 || d > 9) break;
        ms += d * scale;
        scale /= 10;
        i++;
      }
      if (i === from || i - from > 9) return undefined;
      ms = Math.floor(ms);
    }
  }
  let offsetMin = 0;
  if (i < len) {
    const z = s.charCodeAt(i);
    if (z === 90 || z === 122) {
      // Z z
      i++;
    } else if (z === 43 || z === 45) {
      // + -
      const oh = digitsAt(s, i + 1, 2);
      if (oh < 0 || oh > 23) return undefined;
      i += 3;
      let om = 0;
      if (i < len) {
        if (s.charCodeAt(i) === 58) i++;
        om = digitsAt(s, i, 2);
        if (om < 0 || om > 59) return undefined;
        i += 2;
      }
      offsetMin = (oh * 60 + om) * (z === 45 ? -1 : 1);
    } else {
      return undefined;
    }
  }
  if (i !== len) return undefined;
  // Date.UTC maps years 0-99 to 1900-1999; those are refused as before 2000 anyway.
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000;
}

/**
 * A device time to ms since epoch, or a description of why it is refused.
 * Numbers (and digit strings) below 1e11 are epoch seconds, others epoch ms; strings are
 * ISO 8601. The result must be >= 2000-01-01 and at most one day after `receivedAt`.
 */
export function parseDeviceTime(raw: unknown, receivedAt: number): number | string {
  let ms: number;
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) return `${formatNumber(raw)} is not a time`;
    ms = Math.round(raw < EPOCH_SECONDS_BELOW ? raw * 1000 : raw);
  } else if (typeof raw === 'string') {
    if (EPOCH_STRING.test(raw)) {
      const n = +raw;
      ms = Math.round(n < EPOCH_SECONDS_BELOW ? n * 1000 : n);
    } else {
      const parsed = parseIsoTime(raw);
      if (parsed === undefined) {
        return `${quote(raw)} is not an ISO 8601 date-time or an epoch number`;
      }
      ms = parsed;
    }
  } else {
    return `${describeJsonType(raw)} is not a time (ISO 8601 string or epoch number)`;
  }
  if (ms < MIN_DEVICE_TIME) return `${isoOrNumber(ms)} is before 2000-01-01`;
  if (ms > receivedAt + MAX_CLOCK_AHEAD_MS) {
    return `${isoOrNumber(ms)} is more than 1 day after the receive time ${isoOrNumber(receivedAt)}`;
  }
  return ms;
}

/** Parses a body already decoded from JSON. Used by the ChirpStack reader for `object`. */
export function readTelemetryObject(
  obj: Record<string, unknown>,
  receivedAt: number,
  limits: IngestLimits,
): { readonly ok: true; readonly ts: number | undefined; readonly metrics: Metrics } | Refusal {
  const f = new Flattener(limits);
  const r = readBody(obj, f, receivedAt);
  if ('ok' in r) return r;
  return { ok: true, ts: r.ts, metrics: f.out };
}

/**
 * Parses a Gito telemetry payload: a JSON object whose nested objects are flattened with `__`
 * (up to `limits.maxDepth` levels) and whose top-level `ts`, `timestamp` or `time` carries the
 * device time. Checks run in this order: size, UTF-8 and JSON, object, then key by key.
 */
export function parseTelemetryPayload(
  payload: Uint8Array,
  receivedAt: number,
  limits: IngestLimits,
): PayloadResult {
  const decoded = decodeJson(payload, limits);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  if (!isPlainObject(value)) {
    return refuse('not-an-object', `payload is ${describeJsonType(value)}, expected a JSON object`);
  }
  const body = readTelemetryObject(value, receivedAt, limits);
  if (!body.ok) return body;
  if (isEmpty(body.metrics)) {
    return refuse(
      'empty',
      body.ts === undefined
        ? 'no metrics (nulls and empty objects carry none)'
        : 'no metrics besides the time',
    );
  }
  return {
    ok: true,
    ts: body.ts ?? receivedAt,
    deviceTime: body.ts !== undefined,
    metrics: body.metrics,
  };
}

export function isEmpty(metrics: Metrics): boolean {
  for (const _ in metrics) return false;
  return true;
}
