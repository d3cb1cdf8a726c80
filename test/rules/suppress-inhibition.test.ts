import { describe, expect, it } from 'vitest';
import type { InhibitSpec } from '../../actors/rules/model.ts';
import {
  findInhibitor,
  type InhibitingAlert,
  type InhibitionCandidate,
  inhibits,
} from '../../actors/rules/suppress/inhibition.ts';

const behind = (...rules: string[]): InhibitSpec => ({ rules, match: 'behind' });
const sameDevice = (...rules: string[]): InhibitSpec => ({ rules, match: 'same-device' });
const all = (...rules: string[]): InhibitSpec => ({ rules, match: 'all' });

const gatewayOffline: InhibitingAlert = {
  ruleId: 'gateway-offline',
  deviceKey: 'gw1',
  inhibits: behind('device-offline', 'low-signal'),
};

describe('inhibits', () => {
  it.each<[string, InhibitingAlert, InhibitionCandidate, boolean]>([
    [
      'behind: a device whose gateway attribute is the inhibiting device',
      gatewayOffline,
      { ruleId: 'device-offline', deviceKey: 's1', deviceAttributes: { gateway: 'gw1' } },
      true,
    ],
    [
      'behind: another rule named in inhibits.rules',
      gatewayOffline,
      { ruleId: 'low-signal', deviceKey: 's1', deviceAttributes: { gateway: 'gw1' } },
      true,
    ],
    [
      'behind: a device behind another gateway',
      gatewayOffline,
      { ruleId: 'device-offline', deviceKey: 's2', deviceAttributes: { gateway: 'gw2' } },
      false,
    ],
    [
      'behind: a device without attributes',
      gatewayOffline,
      { ruleId: 'device-offline', deviceKey: 's3' },
      false,
    ],
    [
      'behind: the gateway itself is not behind itself',
      gatewayOffline,
      { ruleId: 'device-offline', deviceKey: 'gw1', deviceAttributes: {} },
      false,
    ],
    [
      'behind: a numeric gateway attribute matches the key spelled as a number',
      { ruleId: 'gateway-offline', deviceKey: '1234', inhibits: behind('device-offline') },
      { ruleId: 'device-offline', deviceKey: 's1', deviceAttributes: { gateway: 1234 } },
      true,
    ],
    [
      'a rule not named in inhibits.rules',
      gatewayOffline,
      { ruleId: 'high-temperature', deviceKey: 's1', deviceAttributes: { gateway: 'gw1' } },
      false,
    ],
    [
      'same-device: the same device',
      { ruleId: 'power-lost', deviceKey: 'd1', inhibits: sameDevice('temperature') },
      { ruleId: 'temperature', deviceKey: 'd1' },
      true,
    ],
    [
      'same-device: another device',
      { ruleId: 'power-lost', deviceKey: 'd1', inhibits: sameDevice('temperature') },
      { ruleId: 'temperature', deviceKey: 'd2' },
      false,
    ],
    [
      'all: any device',
      { ruleId: 'site-down', deviceKey: 'router', inhibits: all('temperature') },
      { ruleId: 'temperature', deviceKey: 'd7' },
      true,
    ],
    [
      'all: an aggregate alert (no device) inhibits and is inhibited',
      { ruleId: 'many-down', inhibits: all('temperature') },
      { ruleId: 'temperature' },
      true,
    ],
    [
      'same-device: an aggregate inhibitor has no device to match',
      { ruleId: 'many-down', inhibits: sameDevice('temperature') },
      { ruleId: 'temperature', deviceKey: 'd1' },
      false,
    ],
    [
      'a rule without inhibits',
      { ruleId: 'temperature', deviceKey: 'd1' },
      { ruleId: 'humidity', deviceKey: 'd1' },
      false,
    ],
    [
      'never itself: same rule, same device, even with match all',
      { ruleId: 'device-offline', deviceKey: 'd1', inhibits: all('device-offline') },
      { ruleId: 'device-offline', deviceKey: 'd1' },
      false,
    ],
    [
      'one rule for gateways and sensors: its gateway alert inhibits the sensors behind',
      { ruleId: 'device-offline', deviceKey: 'gw1', inhibits: behind('device-offline') },
      { ruleId: 'device-offline', deviceKey: 's1', deviceAttributes: { gateway: 'gw1' } },
      true,
    ],
  ])('%s', (_name, inhibitor, candidate, expected) => {
    expect(inhibits(inhibitor, candidate)).toBe(expected);
  });
});

describe('findInhibitor', () => {
  const candidate = {
    ruleId: 'device-offline',
    deviceKey: 's1',
    deviceAttributes: { gateway: 'gw1' },
  };

  it('returns the first inhibiting alert in the given order', () => {
    const siteDown = { ruleId: 'site-down', deviceKey: 'router', inhibits: all('device-offline') };
    const unrelated = { ruleId: 'temperature', deviceKey: 's1' };
    expect(findInhibitor([unrelated, gatewayOffline, siteDown], candidate)).toBe(gatewayOffline);
    expect(findInhibitor([siteDown, gatewayOffline], candidate)).toBe(siteDown);
  });

  it('returns undefined when nothing inhibits, and works on any iterable', () => {
    expect(findInhibitor([], candidate)).toBeUndefined();
    const open = new Map([['a', { ruleId: 'temperature', deviceKey: 's1' }]]);
    expect(findInhibitor(open.values(), candidate)).toBeUndefined();
  });

  it('keeps the caller’s alert type', () => {
    const stored = { ...gatewayOffline, alertId: 'alert-42' };
    expect(findInhibitor([stored], candidate)?.alertId).toBe('alert-42');
  });
});
