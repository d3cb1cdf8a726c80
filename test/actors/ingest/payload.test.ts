import { describe, expect, it } from 'vitest';
import {
  parseDeviceTime,
  parseIsoTime,
  parseTelemetryPayload,
} from '../../../actors/ingest/payload.ts';
import { DEFAULT_LIMITS, type IngestLimits } from '../../../actors/ingest/types.ts';

const RECEIVED = Date.UTC(2024, 5, 1, 12, 0, 0); // 2024-06-01T12:00:00Z
const parse = (text: string | Buffer, limits: IngestLimits = DEFAULT_LIMITS) =>
  parseTelemetryPayload(typeof text === 'string' ? Buffer.from(text) : text, RECEIVED, limits);

describe('parseTelemetryPayload: accepted', () => {
  const cases: [string, string, Record<string, unknown>, number?][] = [
    ['flat numbers', '{"temperature":21.5,"humidity":40}', { temperature: 21.5, humidity: 40 }],
    [
      'the SI7021 example',
      '{"SI7021":{"Temperature":24.5,"Humidity":40.2}}',
      { SI7021__Temperature: 24.5, SI7021__Humidity: 40.2 },
    ],
    ['five levels', '{"a":{"b":{"c":{"d":{"e":1}}}}}', { a__b__c__d__e: 1 }],
    [
      'strings and booleans kept, nulls skipped',
      '{"door":"open","alarm":false,"x":null,"n":{"y":null,"z":true}}',
      { door: 'open', alarm: false, n__z: true },
    ],
    ['empty nested objects carry nothing', '{"a":{},"b":1}', { b: 1 }],
    ['limits are inclusive', '{"hi":1e10,"lo":-1e10}', { hi: 1e10, lo: -1e10 }],
    ['already-flattened keys are fine', '{"SI7021__Temperature":1}', { SI7021__Temperature: 1 }],
    [
      'keys that look like Object.prototype members',
      '{"constructor":1,"toString":"x","hasOwnProperty":true}',
      { constructor: 1, toString: 'x', hasOwnProperty: true },
    ],
    ['a UTF-8 BOM', '\ufeff{"a":1}', { a: 1 }],
    ['unicode keys and emoji values', '{"température":1,"s":"😀"}', { température: 1, s: '😀' }],
    [
      'a __proto__ object flattens to a harmless key',
      '{"__proto__":{"polluted":1}}',
      { __proto____polluted: 1 },
    ],
    ['nested ts is an ordinary metric', '{"gps":{"time":"12:00"}}', { gps__time: '12:00' }],
    // Device time
    ['ts epoch ms', '{"ts":1717243200000,"v":1}', { v: 1 }, 1717243200000],
    ['ts epoch seconds', '{"ts":1717243200,"v":1}', { v: 1 }, 1717243200000],
    ['fractional seconds', '{"ts":1717243200.25,"v":1}', { v: 1 }, 1717243200250],
    ['timestamp key', '{"timestamp":1717243200000,"v":1}', { v: 1 }, 1717243200000],
    ['time key, ISO Z', '{"time":"2024-06-01T11:59:58Z","v":1}', { v: 1 }, RECEIVED - 2000],
    ['ISO with offset', '{"ts":"2024-06-01T13:00:00+01:00","v":1}', { v: 1 }, RECEIVED],
    ['ISO with offset, no colon', '{"ts":"2024-06-01T07:00:00-0500","v":1}', { v: 1 }, RECEIVED],
    ['ISO with ms', '{"ts":"2024-06-01T12:00:00.123Z","v":1}', { v: 1 }, RECEIVED + 123],
    ['ISO with ns', '{"ts":"2024-06-01T12:00:00.123456789+00:00","v":1}', { v: 1 }, RECEIVED + 123],
    ['ISO without offset is UTC', '{"ts":"2024-06-01T12:00:00","v":1}', { v: 1 }, RECEIVED],
    ['ISO without seconds', '{"ts":"2024-06-01 12:00","v":1}', { v: 1 }, RECEIVED],
    ['digit string epoch', '{"ts":"1717243200","v":1}', { v: 1 }, RECEIVED],
    ['ts wins over time', '{"time":"junk","ts":1717243200,"v":1}', { v: 1 }, RECEIVED],
    [
      'null ts falls through to time',
      '{"ts":null,"time":1717243100,"v":1}',
      { v: 1 },
      RECEIVED - 100_000,
    ],
    ['a day ahead is still fine', '{"ts":1717329600000,"v":1}', { v: 1 }, RECEIVED + 86_400_000],
    ['2000-01-01 exactly', '{"ts":946684800,"v":1}', { v: 1 }, 946684800000],
  ];
  it.each(cases)('%s', (_name, text, metrics, ts) => {
    expect(parse(text)).toEqual({
      ok: true,
      ts: ts ?? RECEIVED,
      deviceTime: ts !== undefined,
      metrics,
    });
  });

  it('uses the receive time when no time key is present', () => {
    expect(parse('{"v":1}')).toEqual({
      ok: true,
      ts: RECEIVED,
      deviceTime: false,
      metrics: { v: 1 },
    });
    expect(parse('{"ts":1717243100,"v":1}')).toMatchObject({ deviceTime: true });
  });

  it('returns metrics as a plain object', () => {
    const r = parse('{"a":{"b":1}}');
    expect(r.ok && Object.getPrototypeOf(r.metrics)).toBe(Object.prototype);
  });
});

describe('parseTelemetryPayload: refused', () => {
  const cases: [string, string | Buffer, string, RegExp, Partial<IngestLimits>?][] = [
    ['oversize', Buffer.alloc(300 * 1024, 32), 'oversize', /payload is 307200 bytes, limit 262144/],
    ['oversize, configured', '{"a":1}', 'oversize', /7 bytes, limit 5/, { maxPayloadBytes: 5 }],
    [
      'too many metrics',
      '{"a":1,"b":2,"c":3}',
      'oversize',
      /more than 2 metrics/,
      { maxMetrics: 2 },
    ],
    [
      'long string',
      `{"s":"${'x'.repeat(1025)}"}`,
      'oversize',
      /metric 's': string of 1025 chars, limit 1024/,
    ],
    [
      'invalid UTF-8',
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
      'malformed-json',
      /not valid UTF-8/,
    ],
    ['truncated JSON', '{"a":1', 'malformed-json', /invalid JSON/],
    ['not JSON', 'temperature=21', 'malformed-json', /invalid JSON/],
    ['empty payload', '', 'malformed-json', /invalid JSON/],
    ['trailing garbage', '{"a":1}x', 'malformed-json', /invalid JSON/],
    ['array', '[{"a":1}]', 'not-an-object', /payload is an array, expected a JSON object/],
    ['number', '42', 'not-an-object', /payload is a number/],
    ['string', '"hi"', 'not-an-object', /payload is a string/],
    ['null', 'null', 'not-an-object', /payload is null/],
    [
      'six levels',
      '{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}',
      'too-deep',
      /key 'a__b__c__d__e__f' nests deeper than 5 levels/,
    ],
    ['six levels of null', '{"a":{"b":{"c":{"d":{"e":{"f":null}}}}}}', 'too-deep', /nests deeper/],
    [
      'depth limit configured',
      '{"a":{"b":1}}',
      'too-deep',
      /deeper than 1 levels/,
      { maxDepth: 1 },
    ],
    [
      'ts garbage',
      '{"ts":"yesterday","v":1}',
      'bad-timestamp',
      /'ts': 'yesterday' is not an ISO 8601/,
    ],
    ['ts boolean', '{"ts":true,"v":1}', 'bad-timestamp', /'ts': a boolean is not a time/],
    [
      'ts object',
      '{"timestamp":{},"v":1}',
      'bad-timestamp',
      /'timestamp': an object is not a time/,
    ],
    [
      'ts before 2000',
      '{"ts":"1999-12-31T23:59:59Z","v":1}',
      'bad-timestamp',
      /'ts': 1999-12-31T23:59:59.000Z is before 2000-01-01/,
    ],
    ['ts negative', '{"ts":-1,"v":1}', 'bad-timestamp', /before 2000/],
    [
      'ts zero (unset clock)',
      '{"time":0,"v":1}',
      'bad-timestamp',
      /'time': 1970-01-01T00:00:00.000Z is before 2000/,
    ],
    [
      'ts too far ahead',
      '{"ts":1717329600001,"v":1}',
      'bad-timestamp',
      /more than 1 day after the receive time 2024-06-01T12:00:00.000Z/,
    ],
    [
      'ts in microseconds',
      '{"ts":1717243200000000,"v":1}',
      'bad-timestamp',
      /more than 1 day after/,
    ],
    ['ts huge', '{"ts":1e300,"v":1}', 'bad-timestamp', /1e300 is more than 1 day after/],
    ['ts 1e400', '{"ts":1e400,"v":1}', 'bad-timestamp', /Infinity is not a time/],
    ['Feb 30', '{"ts":"2024-02-30T00:00:00Z","v":1}', 'bad-timestamp', /is not an ISO 8601/],
    ['hour 24', '{"ts":"2024-06-01T24:00:00Z","v":1}', 'bad-timestamp', /is not an ISO 8601/],
    ['date only', '{"ts":"2024-06-01","v":1}', 'bad-timestamp', /is not an ISO 8601/],
    [
      'RFC 2822',
      '{"ts":"Sat, 01 Jun 2024 12:00:00 GMT","v":1}',
      'bad-timestamp',
      /is not an ISO 8601/,
    ],
    [
      'out of range',
      '{"SI7021":{"Temperature":1e12}}',
      'out-of-range',
      /^metric 'SI7021__Temperature': 1e12 is beyond ±1e10$/,
    ],
    [
      'out of range, negative',
      '{"v":-10000000001}',
      'out-of-range',
      /metric 'v': -1.0000000001e10 is beyond ±1e10/,
    ],
    ['overflow to Infinity', '{"v":1e400}', 'out-of-range', /metric 'v': Infinity is beyond/],
    ['configured range', '{"v":101}', 'out-of-range', /101 is beyond ±100/, { maxAbsValue: 100 }],
    ['array value', '{"v":[1,2]}', 'wrong-type', /metric 'v': arrays are not accepted/],
    ['nested array', '{"a":{"v":[]}}', 'wrong-type', /metric 'a__v': arrays/],
    [
      'NUL in string',
      '{"s":"a\\u0000b"}',
      'wrong-type',
      /metric 's': string contains NUL or an unpaired surrogate/,
    ],
    ['lone surrogate', '{"s":"\\ud800"}', 'wrong-type', /unpaired surrogate/],
    ['empty object', '{}', 'empty', /no metrics/],
    ['only nulls', '{"a":null,"b":{"c":null}}', 'empty', /no metrics/],
    ['only a time', '{"ts":1717243200}', 'empty', /no metrics besides the time/],
    ['empty key', '{"":1}', 'bad-key', /key '' is empty/],
    ['empty nested key', '{"a":{"":1}}', 'bad-key', /key 'a__' has an empty segment/],
    ['long key', `{"${'k'.repeat(129)}":1}`, 'bad-key', /is 129 chars, limit 128/],
    [
      'long flattened key',
      `{"${'k'.repeat(100)}":{"${'j'.repeat(30)}":1}}`,
      'bad-key',
      /is 132 chars, limit 128/,
    ],
    ['control character in key', '{"a\\nb":1}', 'bad-key', /control character/],
    ['lone surrogate in key', '{"\\udc00":1}', 'bad-key', /unpaired surrogate/],
    ['__proto__ key', '{"__proto__":1}', 'bad-key', /'__proto__' is reserved/],
    ['collision after flattening', '{"a__b":1,"a":{"b":2}}', 'bad-key', /key 'a__b' occurs twice/],
  ];
  it.each(cases)('%s', (_name, text, reason, detail, limits) => {
    const r = parse(text, { ...DEFAULT_LIMITS, ...limits });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect({ reason: r.reason, detail: r.detail }).toEqual({
      reason,
      detail: expect.stringMatching(detail),
    });
  });

  it('checks size before anything else', () => {
    const r = parse('[not json', { ...DEFAULT_LIMITS, maxPayloadBytes: 3 });
    expect(r).toMatchObject({ ok: false, reason: 'oversize' });
  });

  it('does not pollute prototypes', () => {
    const r = parse('{"a":{"__proto__":{"x":1}}}');
    expect(r).toEqual({
      ok: true,
      ts: RECEIVED,
      deviceTime: false,
      metrics: { a____proto____x: 1 },
    });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('accepts Uint8Array views that are not Buffers', () => {
    const bytes = new TextEncoder().encode('xx{"a":1}');
    const r = parseTelemetryPayload(bytes.subarray(2), RECEIVED, DEFAULT_LIMITS);
    expect(r).toMatchObject({ ok: true, metrics: { a: 1 } });
  });
});

describe('device time', () => {
  it('reads numbers below 1e11 as seconds and others as ms', () => {
    expect(parseDeviceTime(99_999_999_999, Number.MAX_SAFE_INTEGER)).toBe(99_999_999_999_000);
    expect(parseDeviceTime(100_000_000_000, RECEIVED)).toMatch(/before 2000/);
    expect(parseDeviceTime(1717243200, RECEIVED)).toBe(RECEIVED);
    expect(parseDeviceTime(1717243200000, RECEIVED)).toBe(RECEIVED);
  });

  it('parses ISO 8601 variants strictly', () => {
    expect(parseIsoTime('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
    expect(parseIsoTime('2023-02-29T00:00:00Z')).toBeUndefined();
    expect(parseIsoTime('2024-06-01t12:00:00z')).toBe(RECEIVED);
    expect(parseIsoTime('2024-06-01T12:00:00,5Z')).toBe(RECEIVED + 500);
    expect(parseIsoTime('2024-06-01T14:00+02')).toBe(RECEIVED);
    expect(parseIsoTime('2024-06-01T12:00:00.Z')).toBeUndefined();
    expect(parseIsoTime('2024-06-01T12:00:00.1234567890Z')).toBeUndefined();
    expect(parseIsoTime('2024-06-01T12:00:60Z')).toBeUndefined();
    expect(parseIsoTime('2024-06-01T12:00:00+2')).toBeUndefined();
    expect(parseIsoTime('2024-06-01T12:00:00+02:3')).toBeUndefined();
    expect(parseIsoTime('2024-06-01T12:00:00Zjunk')).toBeUndefined();
    expect(parseIsoTime('+2024-06-01T12:00:00Z')).toBeUndefined();
  });

  it('agrees with Date.parse on well-formed ISO strings', () => {
    for (const s of [
      '2024-06-01T12:00:00.000Z',
      '2031-12-31T23:59:59.999+14:00',
      '2000-01-01T00:00:00-12:00',
      '2024-03-10T02:30:00.5+05:30',
    ]) {
      expect(parseIsoTime(s)).toBe(Date.parse(s));
    }
  });
});

describe('flattened key memo', () => {
  it('stays correct when many distinct nested keys cycle through it', () => {
    for (let i = 0; i < 45_000; i++) {
      const r = parse(`{"g${i % 7}":{"k${i}":{"v":${i}}}}`);
      expect(r.ok && r.metrics).toEqual({ [`g${i % 7}__k${i}__v`]: i });
    }
  });
});
