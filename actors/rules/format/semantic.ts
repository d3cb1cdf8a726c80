/**
 * The checks a JSON Schema cannot express: durations that parse and are long enough, ranges
 * whose low end is not above the high end, nesting limits, real time zones and calendar dates,
 * one of two optional fields required. Written against `unknown` input, so it runs next to the
 * schema on anything a client sends and never throws on a wrong shape (the schema reports those).
 */
import { durationProblem, parseDuration } from './duration.ts';
import { childPath, type RuleError, show } from './paths.ts';
import { MAX_CONDITION_DEPTH, MAX_CONDITION_NODES } from './schema.ts';

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const own = (o: Obj, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Which durations must be longer than zero (a zero window or rate unit means nothing). */
type DurationRule = 'any' | 'positive';

class Checker {
  readonly errors: RuleError[] = [];

  add(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  duration(o: Obj, key: string, path: string, rule: DurationRule): void {
    const value = own(o, key);
    if (typeof value !== 'string') return;
    const at = childPath(path, key);
    const problem = durationProblem(value);
    if (problem !== undefined) this.add(at, problem);
    else if (rule === 'positive' && parseDuration(value) === 0) {
      this.add(at, 'must be longer than 0');
    }
  }

  name(value: unknown, path: string, what: string): void {
    if (typeof value !== 'string') return;
    if (value === '__proto__') this.add(path, `${show(value)} is a reserved ${what} name`);
    else if (UNPAIRED_SURROGATE.test(value)) {
      this.add(path, `${what} name contains an unpaired surrogate`);
    }
  }

  operand(value: unknown, path: string): void {
    if (isObject(value))
      this.name(own(value, 'attribute'), childPath(path, 'attribute'), 'attribute');
  }

  /** Walks one condition tree (iteratively: depth is what we are limiting). */
  condition(root: unknown, rootPath: string): void {
    const stack: { value: unknown; path: string; depth: number }[] = [
      { value: root, path: rootPath, depth: 1 },
    ];
    let nodes = 0;
    while (stack.length > 0) {
      const { value, path, depth } = stack.pop()!;
      if (!isObject(value)) continue;
      nodes++;
      if (nodes > MAX_CONDITION_NODES) {
        this.add(rootPath, `more than ${MAX_CONDITION_NODES} conditions in one tree`);
        return;
      }
      if (depth > MAX_CONDITION_DEPTH) {
        this.add(path, `conditions nest deeper than ${MAX_CONDITION_DEPTH} levels`);
        continue;
      }
      const children = own(value, 'all') ?? own(value, 'any');
      if (Array.isArray(children)) {
        const key = Object.hasOwn(value, 'all') ? 'all' : 'any';
        for (let i = children.length - 1; i >= 0; i--) {
          stack.push({
            value: children[i],
            path: childPath(childPath(path, key), i),
            depth: depth + 1,
          });
        }
        continue;
      }
      if (Object.hasOwn(value, 'not')) {
        stack.push({ value: value.not, path: childPath(path, 'not'), depth: depth + 1 });
        continue;
      }
      this.leaf(value, path);
    }
  }

  leaf(c: Obj, path: string): void {
    this.name(own(c, 'metric'), childPath(path, 'metric'), 'metric');
    const op = own(c, 'op');
    for (const key of ['value', 'low', 'high']) this.operand(own(c, key), childPath(path, key));
    if (op === 'between' || op === 'outside') {
      const low = own(c, 'low');
      const high = own(c, 'high');
      if (typeof low === 'number' && typeof high === 'number' && low > high) {
        this.add(childPath(path, 'low'), `must not be greater than high (${low} > ${high})`);
      }
    } else if (op === 'delta') this.duration(c, 'window', path, 'positive');
    else if (op === 'rate') this.duration(c, 'per', path, 'positive');
    else if (op === 'missing') this.duration(c, 'for', path, 'positive');
  }

  scope(scope: unknown): void {
    if (!isObject(scope) || own(scope, 'type') !== 'tags') return;
    if (own(scope, 'all') === undefined && own(scope, 'any') === undefined) {
      this.add('scope', 'a tags scope needs `all`, `any` or both');
    }
  }

  severity(spec: unknown): void {
    if (!isObject(spec)) return;
    const bands = own(spec, 'bands');
    if (Array.isArray(bands)) {
      bands.forEach((band, i) => {
        if (isObject(band)) this.condition(own(band, 'when'), `severity.bands[${i}].when`);
      });
    }
    const escalate = own(spec, 'escalate');
    if (Array.isArray(escalate)) {
      escalate.forEach((step, i) => {
        if (isObject(step)) this.duration(step, 'after', `severity.escalate[${i}]`, 'any');
      });
    }
  }

  schedule(schedule: unknown): void {
    if (!isObject(schedule)) return;
    const zone = own(schedule, 'timezone');
    if (typeof zone === 'string' && zone !== '' && !isTimeZone(zone)) {
      this.add(
        'schedule.timezone',
        `unknown time zone ${show(zone)} (expected an IANA name like Europe/Berlin)`,
      );
    }
    const dates = own(schedule, 'excludeDates');
    if (Array.isArray(dates)) {
      dates.forEach((date, i) => {
        if (typeof date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(date) && !isCalendarDate(date)) {
          this.add(`schedule.excludeDates[${i}]`, `${show(date)} is not a calendar date`);
        }
      });
    }
  }

  aggregate(aggregate: unknown): void {
    if (!isObject(aggregate)) return;
    this.duration(aggregate, 'window', 'aggregate', 'any');
    const devices = own(aggregate, 'minDevices');
    const percent = own(aggregate, 'minPercent');
    if (devices === undefined && percent === undefined) {
      this.add('aggregate', 'needs minDevices or minPercent (or both)');
      return;
    }
    const clearBelow = own(aggregate, 'clearBelow');
    if (typeof clearBelow !== 'number') return;
    // clearBelow counts devices when minDevices is given, percent otherwise (see model.ts).
    if (typeof devices === 'number' && clearBelow > devices) {
      this.add('aggregate.clearBelow', `must not exceed minDevices (${devices})`);
    } else if (devices === undefined && typeof percent === 'number' && clearBelow > percent) {
      this.add('aggregate.clearBelow', `must not exceed minPercent (${percent})`);
    }
  }
}

const zones = new Map<string, boolean>();

/** Whether the runtime's ICU knows the IANA zone (cached: the check builds a formatter). */
export function isTimeZone(zone: string): boolean {
  let known = zones.get(zone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      known = true;
    } catch {
      known = false;
    }
    if (zones.size < 1_000) zones.set(zone, known);
  }
  return known;
}

/** `YYYY-MM-DD` names a day that exists (no 2026-02-30). */
export function isCalendarDate(date: string): boolean {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/** Errors the schema cannot find; `input` may be anything. */
export function semanticErrors(input: unknown): RuleError[] {
  const check = new Checker();
  if (!isObject(input)) return check.errors;
  check.duration(input, 'for', '', 'any');
  check.duration(input, 'autoResolveAfter', '', 'positive');
  check.scope(own(input, 'scope'));
  check.condition(own(input, 'condition'), 'condition');
  check.condition(own(input, 'clear'), 'clear');
  check.severity(own(input, 'severity'));
  check.schedule(own(input, 'schedule'));
  check.aggregate(own(input, 'aggregate'));
  const flapping = own(input, 'flapping');
  if (isObject(flapping)) check.duration(flapping, 'window', 'flapping', 'positive');
  return check.errors;
}
