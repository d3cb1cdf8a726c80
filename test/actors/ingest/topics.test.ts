import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTopic, sharedSubscription, TELEMETRY_TOPICS } from '../../../actors/ingest/topics.ts';

describe('parseTopic', () => {
  const accepted: [string, object][] = [
    ['acme/devices/pump-17/telemetry', { kind: 'gito', tenantId: 'acme', deviceKey: 'pump-17' }],
    ['a/devices/D.1_x-2/telemetry', { kind: 'gito', tenantId: 'a', deviceKey: 'D.1_x-2' }],
    ['0-9/devices/0/telemetry', { kind: 'gito', tenantId: '0-9', deviceKey: '0' }],
    [`${'t'.repeat(63)}/devices/${'d'.repeat(128)}/telemetry`, { kind: 'gito' }],
    // Tenant ids follow the tenants table's rule: upper case, '_' and '.' are allowed.
    ['Acme_Corp.eu/devices/d1/telemetry', { kind: 'gito', tenantId: 'Acme_Corp.eu' }],
    // A tenant may be called 'application': four segments are always the Gito shape.
    ['application/devices/x/telemetry', { kind: 'gito', tenantId: 'application' }],
    [
      'application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up',
      {
        kind: 'chirpstack',
        applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97',
        devEui: '0101010101010101',
      },
    ],
    // DevEUI is normalised to lower case.
    ['application/1/device/A1B2C3D4E5F6A7B8/event/up', { devEui: 'a1b2c3d4e5f6a7b8' }],
  ];
  it.each(accepted)('accepts %s', (topic, want) => {
    const r = parseTopic(topic);
    expect(r).toMatchObject({ ok: true, ...want });
  });

  const refused: [string, RegExp][] = [
    ['', /has 1 segments/],
    ['acme/devices/d1', /has 3 segments/],
    ['acme/devices/d1/telemetry/extra', /has 5 segments/],
    ['/devices/d1/telemetry', /segment 1 \(tenant id\) ''/],
    ['-acme/devices/d1/telemetry', /segment 1 \(tenant id\)/],
    ['ac:me/devices/d1/telemetry', /segment 1 \(tenant id\)/],
    ['+/devices/d1/telemetry', /segment 1 \(tenant id\) '\+'/],
    [`${'t'.repeat(65)}/devices/d1/telemetry`, /segment 1 \(tenant id\)/],
    ['.acme/devices/d1/telemetry', /segment 1 \(tenant id\)/],
    ['acme/device/d1/telemetry', /segment 2 'device' should be 'devices'/],
    ['acme/devices/d1/telemetri', /segment 4 'telemetri' should be 'telemetry'/],
    ['acme/devices//telemetry', /segment 3 \(device id\) ''/],
    ['acme/devices/d 1/telemetry', /segment 3 \(device id\) 'd 1'/],
    ['acme/devices/#/telemetry', /segment 3 \(device id\)/],
    ['acme/devices/../telemetry', /segment 3 \(device id\) '\.\.'/],
    ['acme/devices/./telemetry', /segment 3 \(device id\) '\.'/],
    [`acme/devices/${'d'.repeat(129)}/telemetry`, /segment 3 \(device id\)/],
    ['application/app/device/0101010101010101/event/join', /segment 6 'join' should be 'up'/],
    ['application/app/devices/0101010101010101/event/up', /segment 3 'devices' should be/],
    ['application/app/device/010101010101010/event/up', /segment 4 \(DevEUI\) '010101010101010'/],
    ['application/app/device/010101010101010g/event/up', /segment 4 \(DevEUI\)/],
    ['application//device/0101010101010101/event/up', /segment 2 \(application id\) ''/],
    ['application/a+b/device/0101010101010101/event/up', /segment 2 \(application id\)/],
    [`${'x/'.repeat(300)}`, /topic is 600 chars/],
  ];
  it.each(refused)('refuses %j', (topic, detail) => {
    const r = parseTopic(topic);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('bad-topic');
    expect(r.detail).toMatch(detail);
  });

  it('clips long untrusted segments in details', () => {
    const r = parseTopic(`acme/devices/${'é'.repeat(200)}/telemetry`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail.length).toBeLessThan(200);
  });

  it('never throws on arbitrary strings; refusals are bad-topic', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 700 })), (s) => {
        const r = parseTopic(s);
        if (!r.ok) expect(r.reason).toBe('bad-topic');
      }),
      { numRuns: 2_000 },
    );
  });

  it('round-trips generated valid ids', () => {
    const tenant = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
    const device = fc
      .stringMatching(/^[A-Za-z0-9._-]{1,128}$/)
      .filter((d) => d !== '.' && d !== '..');
    fc.assert(
      fc.property(tenant, device, (t, d) => {
        expect(parseTopic(`${t}/devices/${d}/telemetry`)).toEqual({
          ok: true,
          kind: 'gito',
          tenantId: t,
          deviceKey: d,
        });
      }),
    );
  });
});

describe('subscriptions', () => {
  it('lists the telemetry filters', () => {
    expect(TELEMETRY_TOPICS).toEqual(['+/devices/+/telemetry', 'application/+/device/+/event/up']);
  });

  it('builds shared subscriptions', () => {
    expect(sharedSubscription('gito', TELEMETRY_TOPICS[0])).toBe(
      '$share/gito/+/devices/+/telemetry',
    );
    expect(() => sharedSubscription('', 'x')).toThrow();
    expect(() => sharedSubscription('a/b', 'x')).toThrow();
  });
});
