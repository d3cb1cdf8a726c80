import { describe, expect, it } from 'vitest';
import type { Scope } from '../../actors/rules/model.ts';
import { scopeMatches } from '../../actors/rules/scope.ts';

const pump = { key: 'pump:17', groups: ['cold-room', 'site-a'], tags: ['freezer', 'eu'] };

const cases: [string, Scope, boolean][] = [
  ['tenant', { type: 'tenant' }, true],
  ['device, same key', { type: 'device', device: 'pump:17' }, true],
  ['device, other key', { type: 'device', device: 'pump:1' }, false],
  ['devices, listed', { type: 'devices', devices: ['a', 'pump:17'] }, true],
  ['devices, not listed', { type: 'devices', devices: ['a', 'b'] }, false],
  ['group, member', { type: 'group', group: 'site-a' }, true],
  ['group, not member', { type: 'group', group: 'site-b' }, false],
  ['tags all, has all', { type: 'tags', all: ['freezer', 'eu'] }, true],
  ['tags all, lacks one', { type: 'tags', all: ['freezer', 'us'] }, false],
  ['tags any, has one', { type: 'tags', any: ['us', 'eu'] }, true],
  ['tags any, has none', { type: 'tags', any: ['us', 'asia'] }, false],
  ['tags all and any', { type: 'tags', all: ['freezer'], any: ['us', 'eu'] }, true],
  ['tags all ok, any not', { type: 'tags', all: ['freezer'], any: ['us'] }, false],
  ['tags with neither list', { type: 'tags' }, false],
  ['unknown type', { type: 'site' } as unknown as Scope, false],
];

describe('scopeMatches', () => {
  it.each(cases)('%s', (_name, scope, expected) => {
    expect(scopeMatches(scope, pump)).toBe(expected);
  });

  it('a device without groups or tags is only in key and tenant scopes', () => {
    const bare = { key: 'x', groups: [], tags: [] };
    expect(scopeMatches({ type: 'group', group: 'g' }, bare)).toBe(false);
    expect(scopeMatches({ type: 'tags', any: ['t'] }, bare)).toBe(false);
    expect(scopeMatches({ type: 'device', device: 'x' }, bare)).toBe(true);
  });
});
