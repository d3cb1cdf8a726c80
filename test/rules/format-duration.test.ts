import { describe, expect, it } from 'vitest';
import {
  DurationError,
  durationProblem,
  formatDuration,
  parseDuration,
} from '../../actors/rules/format/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['0s', 0],
    ['007m', 420_000],
    ['3650d', 3650 * 86_400_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', 'empty string'],
    ['10', 'missing unit in "10"'],
    ['10x', 'unknown unit "x"'],
    ['10M', 'unknown unit "M"'],
    ['1.5h', 'expected a duration'],
    ['-5m', 'cannot be negative'],
    [' 5m', 'without spaces'],
    ['1h30m', 'one number and one unit'],
    ['m', 'expected a duration'],
    ['3651d', 'longer than 3650d'],
    ['99999999999999999999d', 'longer than 3650d'],
  ])('%j is refused: %s', (text, message) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
    expect(() => parseDuration(text)).toThrow(message);
  });

  it('explains non-strings without throwing', () => {
    expect(durationProblem(5)).toMatch(/expected a duration/);
    expect(durationProblem(null)).toMatch(/expected a duration/);
    expect(durationProblem('5m')).toBeUndefined();
  });

  it('formats back to the shortest exact spelling', () => {
    expect([0, 1500, 90_000, 3_600_000, 86_400_000].map(formatDuration)).toEqual([
      '0ms',
      '1500ms',
      '90s',
      '1h',
      '1d',
    ]);
    for (const text of ['500ms', '90s', '10m', '1h', '2d']) {
      expect(parseDuration(formatDuration(parseDuration(text)))).toBe(parseDuration(text));
    }
  });
});
