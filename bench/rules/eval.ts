/**
 * Per-message cost of rule evaluation on one device: record a reading in the device's
 * MetricHistory, then stepRule for each of 1, 10 or 100 applicable rules of mixed condition
 * kinds (thresholds, OR across metrics, attribute ranges, membership, changed, delta, rate,
 * missing, for + count, severity bands with a separate clear), keeping each rule's state and
 * the earliest wakeAt as the device actor does.
 *
 * `npx tsx bench/rules/eval.ts` prints rules.eval.{1,10,100}rules as JSON lines on stdout
 * (BENCH_QUICK=1: seconds); runEvalBench() returns the same lines for bench/rules/run.ts.
 */
import { fileURLToPath } from 'node:url';
import {
  type CompiledRule,
  compileRule,
  mergeHistoryWindows,
} from '../../actors/rules/eval/compile.ts';
import type { DeviceView } from '../../actors/rules/eval/condition.ts';
import { MetricHistory } from '../../actors/rules/eval/history.ts';
import { type RuleEvalState, stepRule } from '../../actors/rules/eval/step.ts';
import type { RuleDefinition, Scalar } from '../../actors/rules/model.ts';
import { type BenchLine, emit, log, QUICK, round, sig } from '../lib/report.ts';

/** BENCHMARKS.md, ingest.broker_ceiling: QoS 1 through Mosquitto on this 2-core machine. */
const INGEST_CEILING = 62_700;
/** Issue 5: 10 rules per device must cost under 20% of ingest, i.e. evaluate 5x faster. */
const TEN_RULES_TARGET_RATIO = 5;

/** Ten rule shapes, cycled: the mix a device with many rules would plausibly carry. */
const SHAPES: readonly Omit<RuleDefinition, 'name' | 'scope'>[] = [
  { condition: { metric: 'temperature', op: '>', value: 30 }, severity: 'major' },
  {
    condition: {
      any: [
        { metric: 'temperature', op: '>', value: { attribute: 'maxTemp', default: 35 } },
        { metric: 'humidity', op: '>', value: 85 },
      ],
    },
    severity: 'minor',
  },
  {
    condition: {
      metric: 'temperature',
      op: 'outside',
      low: { attribute: 'minTemp', default: 2 },
      high: { attribute: 'maxTemp', default: 35 },
    },
    severity: 'warning',
  },
  { condition: { metric: 'state', op: 'in', values: ['fault', 'error'] }, severity: 'critical' },
  { condition: { metric: 'door', op: 'changed' }, severity: 'info' },
  {
    condition: { metric: 'pressure', op: 'delta', window: '10m', cmp: '>', value: 4, abs: true },
    severity: 'major',
  },
  {
    condition: { metric: 'temperature', op: 'rate', per: '1m', cmp: '>', value: 2 },
    severity: 'minor',
  },
  { condition: { metric: 'battery', op: 'missing', for: '10m' }, severity: 'warning' },
  {
    condition: {
      all: [
        { metric: 'temperature', op: '>', value: 25 },
        { not: { metric: 'door', op: '==', value: true } },
      ],
    },
    for: '5m',
    count: 3,
    severity: 'major',
  },
  {
    condition: { metric: 'humidity', op: '>', value: 80 },
    clear: { metric: 'humidity', op: '<', value: 70 },
    autoResolveAfter: '1h',
    severity: {
      default: 'minor',
      bands: [{ when: { metric: 'humidity', op: '>', value: 90 }, severity: 'major' }],
      escalate: [{ after: '30m', severity: 'critical' }],
    },
  },
];

function rules(n: number): CompiledRule[] {
  return Array.from({ length: n }, (_, i) =>
    compileRule({
      ...SHAPES[i % SHAPES.length]!,
      name: `rule ${i}`,
      scope: { type: 'tenant' },
      id: `r${i}`,
      tenantId: 'bench',
      version: 1,
    }),
  );
}

/** Readings that wander across the thresholds, so alerts open, escalate and clear. */
function readings(count: number): Record<string, Scalar>[] {
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  let temperature = 20;
  let humidity = 60;
  let pressure = 1000;
  return Array.from({ length: count }, (_, i) => {
    temperature = Math.min(45, Math.max(-5, temperature + (random() - 0.5) * 3));
    humidity = Math.min(100, Math.max(20, humidity + (random() - 0.5) * 6));
    pressure += (random() - 0.5) * 2;
    return {
      temperature: Math.round(temperature * 10) / 10,
      humidity: Math.round(humidity),
      pressure: Math.round(pressure * 10) / 10,
      door: random() < 0.05,
      state: random() < 0.01 ? 'fault' : 'ok',
      ...(i % 50 === 0 ? { battery: 90 } : {}),
    };
  });
}

interface Round {
  readonly rate: number;
  readonly events: number;
}

/** One pass over `messages`, one second apart on the injected clock; returns msg/s. */
function runRound(
  compiled: readonly CompiledRule[],
  messages: readonly Record<string, Scalar>[],
  start: number,
): Round {
  const history = new MetricHistory(start, mergeHistoryWindows(compiled));
  const view: DeviceView = { history, attributes: { maxTemp: 33, minTemp: 0 } };
  const states: (RuleEvalState | undefined)[] = new Array(compiled.length).fill(undefined);
  let events = 0;
  let wake = 0;
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i++) {
    const now = start + i * 1_000;
    history.record(messages[i]!, now);
    let earliest = Number.POSITIVE_INFINITY;
    for (let r = 0; r < compiled.length; r++) {
      const out = stepRule(compiled[r]!, states[r], view, now);
      states[r] = out.state;
      if (out.event !== undefined) events++;
      if (out.wakeAt !== undefined && out.wakeAt < earliest) earliest = out.wakeAt;
    }
    if (earliest !== Number.POSITIVE_INFINITY) wake++;
  }
  const ms = performance.now() - t0;
  if (wake < 0) log('unreachable'); // keeps `wake` observable so the loop is not optimised away
  return { rate: (messages.length * 1_000) / ms, events };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Measures 1, 10 and 100 rules; returns one line per figure (does not print them). */
export async function runEvalBench(quick: boolean): Promise<BenchLine[]> {
  const lines: BenchLine[] = [];
  const rounds = quick ? 3 : 7;
  for (const n of [1, 10, 100]) {
    const compiled = rules(n);
    // About the same work per round whatever n: fewer messages with more rules.
    const count = Math.max(2_000, Math.round((quick ? 300_000 : 2_000_000) / n));
    const messages = readings(count);
    runRound(compiled, messages.slice(0, Math.min(count, 20_000)), Date.UTC(2026, 0, 1)); // warm-up
    await new Promise((resolve) => setImmediate(resolve));
    const results: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      results.push(runRound(compiled, messages, Date.UTC(2026, 0, 1)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const rates = results.map((r) => r.rate);
    const rate = median(rates);
    const ratio = rate / INGEST_CEILING;
    log(`rules.eval.${n}rules: ${sig(rate, 4)} msg/s [${rates.map((r) => sig(r, 3)).join(', ')}]`);
    lines.push({
      bench: `rules.eval.${n}rules`,
      value: Math.round(rate),
      unit: 'msg/s',
      baseline: 'ingest ceiling',
      baselineValue: INGEST_CEILING,
      ratio: round(ratio, 3),
      ...(n === 10
        ? {
            targetRatio: TEN_RULES_TARGET_RATIO,
            target: INGEST_CEILING * TEN_RULES_TARGET_RATIO,
            met: ratio >= TEN_RULES_TARGET_RATIO,
          }
        : {}),
      rules: n,
      transitions: results[0]!.events,
      note: `plain timed loop, one core, median of ${rounds} rounds of ${count} messages (6 metrics each, 1 s apart on the injected clock): MetricHistory.record + stepRule for ${n} rule(s) cycling 10 shapes (threshold, OR across metrics, attribute range, in, changed, delta 10m, rate, missing 10m, for 5m + count 3, bands + clear + autoResolve + escalate); ${results[0]!.events} alert transitions per round; rounds [${rates.map((r) => sig(r, 3)).join(', ')}] msg/s`,
    });
  }
  return lines;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const line of await runEvalBench(QUICK)) emit(line);
}
