import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BadInputCounter,
  BadInputLog,
  dropBadInput,
  registerIngestMetrics,
} from '../../../actors/ingest/bad-input.ts';
import { BAD_INPUT_REASONS } from '../../../actors/ingest/types.ts';
import type { Logger } from '../../../runtime/logger.ts';

function captureLogger() {
  const lines: { obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const push = (obj: object, msg?: string) =>
    lines.push({ obj: obj as Record<string, unknown>, msg });
  const logger: Logger = { debug: push, info: push, warn: push, error: push };
  return { logger, lines };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('BadInputCounter', () => {
  it('counts by reason and outcome', () => {
    const c = new BadInputCounter();
    c.accept();
    c.accept();
    c.reject('malformed-json');
    c.reject('malformed-json');
    c.reject('unknown-device');
    c.reject('rate-limited');
    expect(c.count('malformed-json')).toBe(2);
    expect(c.count('unknown-device')).toBe(1);
    expect(c.count('oversize')).toBe(0);
    expect([c.accepted, c.rejected, c.throttled]).toEqual([2, 3, 1]);
  });

  it('exports every label value through prom-client', async () => {
    const c = new BadInputCounter();
    const registry = new Registry();
    registerIngestMetrics(registry, c);
    c.accept();
    c.reject('bad-topic');
    c.reject('rate-limited');
    const text = await registry.metrics();
    expect(text).toContain('gito_ingest_messages_total{outcome="accepted"} 1');
    expect(text).toContain('gito_ingest_messages_total{outcome="rejected"} 1');
    expect(text).toContain('gito_ingest_messages_total{outcome="throttled"} 1');
    expect(text).toContain('gito_ingest_bad_input_total{reason="bad-topic"} 1');
    expect(text).toContain('gito_ingest_bad_input_total{reason="rate-limited"} 1');
    for (const r of BAD_INPUT_REASONS) expect(text).toContain(`reason="${r}"`);
    c.reject('bad-topic');
    expect(await registry.metrics()).toContain('gito_ingest_bad_input_total{reason="bad-topic"} 2');
  });
});

describe('BadInputLog', () => {
  it('logs topic, reason and detail, at most N lines per reason per window', () => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
    const { logger, lines } = captureLogger();
    const log = new BadInputLog(logger, 3, 60_000);
    for (let i = 0; i < 10; i++)
      log.report('acme/devices/d1/telemetry', 'malformed-json', `bad ${i}`);
    log.report('acme/devices/d2/telemetry', 'oversize', 'payload is 300000 bytes, limit 262144');
    expect(lines).toHaveLength(4);
    expect(lines[0]!.obj).toEqual({
      topic: 'acme/devices/d1/telemetry',
      reason: 'malformed-json',
      detail: 'bad 0',
    });
    expect(lines[3]!.obj).toMatchObject({ reason: 'oversize', topic: 'acme/devices/d2/telemetry' });

    vi.setSystemTime(60_000);
    log.report('acme/devices/d1/telemetry', 'malformed-json', 'again');
    expect(lines.at(-2)!.obj).toMatchObject({ key: 'malformed-json', suppressed: 7 });
    expect(lines.at(-1)!.obj).toMatchObject({ detail: 'again' });
  });

  it('clips long topics', () => {
    const { logger, lines } = captureLogger();
    new BadInputLog(logger).report('x'.repeat(10_000), 'bad-topic', 'd');
    expect((lines[0]!.obj.topic as string).length).toBeLessThanOrEqual(201);
  });

  it('dropBadInput counts and logs', () => {
    const { logger, lines } = captureLogger();
    const c = new BadInputCounter();
    dropBadInput(c, new BadInputLog(logger), 't', 'empty', 'no metrics');
    expect(c.count('empty')).toBe(1);
    expect(lines).toHaveLength(1);
  });
});
