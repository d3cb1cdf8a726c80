import { describe, expect, it } from 'vitest';
import { planSteps, validateLevels } from '../../actors/notify/escalation/policy.ts';

const example = [
  // Email the on-call team now, again every 5 minutes (two more times).
  {
    delay: '0m',
    repeat: 2,
    interval: '5m',
    targets: [{ type: 'team', id: '1', channels: ['email'] }],
  },
  // Unacknowledged after two e-mails: SMS the team lead.
  { delay: '5m', targets: [{ type: 'user', id: '7', channels: ['sms'] }] },
  // After 20 minutes: PagerDuty.
  { delay: '20m', targets: [{ type: 'contact_point', id: '3' }] },
];

describe('escalation policy', () => {
  it('turns the example policy into steps at absolute times', () => {
    const v = validateLevels(example);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    const m = 60_000;
    expect(planSteps(v.levels, 1_000)).toEqual([
      { at: 1_000, level: 0, round: 0 },
      { at: 1_000 + 5 * m, level: 0, round: 1 },
      { at: 1_000 + 5 * m, level: 1, round: 0 },
      { at: 1_000 + 10 * m, level: 0, round: 2 },
      { at: 1_000 + 20 * m, level: 2, round: 0 },
    ]);
  });

  it.each([
    [[], 'levels', 'expected at least one level'],
    [[{ delay: '5', targets: [{ type: 'user', id: '1' }] }], 'levels[0].delay', 'missing unit'],
    [
      [{ delay: '0m', repeat: 2, targets: [{ type: 'user', id: '1' }] }],
      'levels[0].interval',
      'expected',
    ],
    [
      [{ delay: '0m', repeat: -1, targets: [{ type: 'user', id: '1' }] }],
      'levels[0].repeat',
      'integer',
    ],
    [[{ delay: '0m', targets: [] }], 'levels[0].targets', 'non-empty'],
    [
      [{ delay: '0m', targets: [{ type: 'robot', id: '1' }] }],
      'levels[0].targets[0].type',
      "'user'",
    ],
    [[{ delay: '0m', targets: [{ type: 'user', id: 'x' }] }], 'levels[0].targets[0].id', 'id'],
    [
      [{ delay: '0m', targets: [{ type: 'user', id: '1', channels: ['fax'] }] }],
      'levels[0].targets[0].channels',
      'email',
    ],
    [
      [{ delay: '0m', targets: [{ type: 'contact_point', id: '1', channels: ['sms'] }] }],
      'levels[0].targets[0].channels',
      'not allowed',
    ],
  ])('refuses %j at %s', (input, path, message) => {
    const v = validateLevels(input);
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.errors).toContainEqual({ path, message: expect.stringContaining(message) });
  });
});
