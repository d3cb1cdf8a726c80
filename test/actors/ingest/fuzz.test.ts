/**
 * Property tests: whatever arrives, parsing never throws, every refusal carries a reason from
 * the BadInputReason set, and every accepted reading satisfies the documented limits.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTelemetry } from '../../../actors/ingest/parse.ts';
import { flattenMetrics, KEY_SEPARATOR, MIN_DEVICE_TIME } from '../../../actors/ingest/payload.ts';
import {
  BAD_INPUT_REASONS,
  DEFAULT_LIMITS,
  type ParseResult,
} from '../../../actors/ingest/types.ts';

const RECEIVED = Date.UTC(2024, 5, 1, 12);
const REASONS = new Set<string>(BAD_INPUT_REASONS);
const GITO = 'acme/devices/d1/telemetry';
const CHIRPSTACK = 'application/app-1/device/0101010101010101/event/up';
const topic = fc.constantFrom(GITO, CHIRPSTACK);

function checkResult(r: ParseResult): void {
  if (!r.ok) {
    expect(REASONS.has(r.reason)).toBe(true);
    expect(typeof r.detail).toBe('string');
    expect(r.detail.length).toBeGreaterThan(0);
    expect(r.detail.length).toBeLessThan(600);
    return;
  }
  const { reading } = r;
  expect(reading.ts).toBeGreaterThanOrEqual(MIN_DEVICE_TIME);
  expect(reading.ts).toBeLessThanOrEqual(RECEIVED + 86_400_000);
  const keys = Object.keys(reading.metrics);
  expect(keys.length).toBeGreaterThan(0);
  expect(keys.length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxMetrics + 5);
  for (const k of keys) {
    expect(k.length).toBeGreaterThan(0);
    expect(k.length).toBeLessThanOrEqual(128);
    const v = reading.metrics[k];
    if (typeof v === 'number') expect(Math.abs(v)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxAbsValue);
    else if (typeof v === 'string') {
      expect(v.length).toBeLessThanOrEqual(1024);
      expect(v.includes('\u0000')).toBe(false);
    } else expect(typeof v).toBe('boolean');
  }
  // What we accept must survive JSON (the store writes metrics as JSONB).
  expect(JSON.parse(JSON.stringify(reading.metrics))).toEqual(reading.metrics);
}

describe('fuzzing', () => {
  it('arbitrary bytes never throw', () => {
    fc.assert(
      fc.property(topic, fc.uint8Array({ maxLength: 512 }), (t, bytes) => {
        checkResult(parseTelemetry(t, Buffer.from(bytes), RECEIVED));
      }),
      { numRuns: 3_000 },
    );
  });

  it('arbitrary JSON values never throw', () => {
    fc.assert(
      fc.property(topic, fc.jsonValue({ maxDepth: 8 }), (t, value) => {
        checkResult(parseTelemetry(t, Buffer.from(JSON.stringify(value) ?? 'null'), RECEIVED));
      }),
      { numRuns: 3_000 },
    );
  });

  it('arbitrary objects with time keys and odd values never throw', () => {
    const odd = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.boolean(),
      fc.constant(null),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.integer({ min: 0, max: 2e12 }),
    );
    const body = fc.dictionary(
      fc.oneof(fc.constantFrom('ts', 'timestamp', 'time', '', '__proto__', 'a__b'), fc.string()),
      fc.oneof(
        odd,
        fc.dictionary(fc.string(), odd, { maxKeys: 3 }),
        fc.array(odd, { maxLength: 2 }),
      ),
      { maxKeys: 8 },
    );
    fc.assert(
      fc.property(topic, body, (t, b) => {
        const doc = t === GITO ? b : { object: b, rxInfo: [{ rssi: -80 }] };
        checkResult(parseTelemetry(t, Buffer.from(JSON.stringify(doc)), RECEIVED));
      }),
      { numRuns: 3_000 },
    );
  });

  it('deep nesting is refused, not overflowed', () => {
    for (const depth of [6, 100, 10_000, 100_000]) {
      const text = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const r = parseTelemetry(GITO, Buffer.from(text), RECEIVED);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(['too-deep', 'oversize', 'malformed-json']).toContain(r.reason);
    }
    const r = parseTelemetry(
      GITO,
      Buffer.from(`${'['.repeat(50_000)}${']'.repeat(50_000)}`),
      RECEIVED,
    );
    expect(r).toMatchObject({ ok: false, reason: 'not-an-object' });
  });

  it('arbitrary topics never throw', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 64 }), (t, bytes) => {
        checkResult(parseTelemetry(t, Buffer.from(bytes), RECEIVED));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('flatten round trip', () => {
  // Keys without '__' and without a leading or trailing '_', so joining with '__' is reversible.
  const key = fc
    .stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,10}[A-Za-z0-9])?$/)
    .filter((k) => !k.includes('__') && k !== '__proto__');
  const leaf = fc.oneof(
    fc.double({ min: -1e10, max: 1e10, noNaN: true }),
    fc.integer(),
    fc.boolean(),
    fc.string({ maxLength: 30 }).filter((s) => !s.includes('\u0000')),
  );
  const tree = fc.letrec((tie) => ({
    node: fc.dictionary(key, fc.oneof({ depthSize: 'small', maxDepth: 4 }, leaf, tie('node')), {
      minKeys: 1,
      maxKeys: 5,
    }),
  })).node as fc.Arbitrary<Record<string, unknown>>;

  function unflatten(metrics: Record<string, unknown>): Record<string, unknown> {
    const root: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(metrics)) {
      const parts = k.split(KEY_SEPARATOR);
      let node = root;
      for (const p of parts.slice(0, -1)) {
        node[p] ??= {};
        node = node[p] as Record<string, unknown>;
      }
      node[parts.at(-1)!] = v;
    }
    return root;
  }

  it('unflatten(flatten(x)) = x, and no key is deeper than maxDepth', () => {
    fc.assert(
      fc.property(tree, (x) => {
        const r = flattenMetrics(x, { ...DEFAULT_LIMITS, maxKeyLength: 1_000 });
        if (!r.ok) {
          // Only the depth limit can refuse these trees.
          expect(r.reason).toBe('too-deep');
          return;
        }
        expect(unflatten(r.metrics)).toEqual(x);
        for (const k of Object.keys(r.metrics)) {
          expect(k.split(KEY_SEPARATOR).length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxDepth);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
