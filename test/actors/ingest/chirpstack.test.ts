import { describe, expect, it } from 'vitest';
import { parseDeviceTelemetry, parseTelemetry } from '../../../actors/ingest/parse.ts';

const RECEIVED = Date.parse('2022-07-18T09:34:16Z');
const TOPIC = 'application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up';

/** The uplink event example of the ChirpStack v4 documentation (JSON marshaler), plus `object`. */
function uplink(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
    time: '2022-07-18T09:34:15.775023242+00:00',
    deviceInfo: {
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
      tenantName: 'ChirpStack',
      applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97',
      applicationName: 'Test application',
      deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
      deviceProfileName: 'Test device-profile',
      deviceName: 'Test device',
      devEui: '0101010101010101',
      tags: { key: 'value' },
    },
    devAddr: '00189440',
    dr: 1,
    fCnt: 10,
    fPort: 1,
    data: 'qg==',
    object: { temperature: 21.3, sensor: { humidity: 55 }, motion: true },
    rxInfo: [
      {
        gatewayId: '0016c001f153a14c',
        uplinkId: 4217106255,
        rssi: -36,
        snr: 10.5,
        context: 'E3OWOQ==',
        metadata: { region_name: 'eu868', region_common_name: 'EU868' },
      },
    ],
    txInfo: {
      frequency: 867100000,
      modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } },
    },
    ...overrides,
  };
}

const parseUp = (body: unknown, topic = TOPIC) =>
  parseTelemetry(topic, Buffer.from(JSON.stringify(body)), RECEIVED);

describe('ChirpStack v4 uplinks', () => {
  it('reads the decoded object and radio metadata', () => {
    expect(parseUp(uplink())).toEqual({
      ok: true,
      reading: {
        tenantId: '',
        devEui: '0101010101010101',
        applicationId: '17c82e96-be03-4f38-aef3-f83d48582d97',
        deviceName: 'Test device',
        ts: Date.parse('2022-07-18T09:34:15.775Z'),
        source: 'chirpstack',
        metrics: {
          temperature: 21.3,
          sensor__humidity: 55,
          motion: true,
          rssi: -36,
          snr: 10.5,
          frequency: 867100000,
          spreadingFactor: 7,
          fCnt: 10,
        },
      },
    });
  });

  it('takes rssi and snr from the gateway with the best rssi', () => {
    const r = parseUp(
      uplink({
        rxInfo: [
          { gatewayId: 'a', rssi: -110, snr: -5 },
          { gatewayId: 'b', rssi: -70, snr: 2 },
          { gatewayId: 'c', snr: 20 },
          'junk',
          { gatewayId: 'd', rssi: -90, snr: 9 },
        ],
      }),
    );
    expect(r.ok && r.reading.metrics).toMatchObject({ rssi: -70, snr: 2 });
  });

  it('accepts an uplink without a decoded object (radio metadata only)', () => {
    const { object: _, fCnt: __, ...doc } = uplink();
    const r = parseUp(doc);
    expect(r.ok && r.reading.metrics).toEqual({
      rssi: -36,
      snr: 10.5,
      frequency: 867100000,
      spreadingFactor: 7,
    });
  });

  it('leaves out missing or malformed radio fields', () => {
    const r = parseUp(
      uplink({ rxInfo: 'nope', txInfo: { frequency: 'x', modulation: { fsk: {} } }, fCnt: null }),
    );
    expect(r.ok && r.reading.metrics).toEqual({
      temperature: 21.3,
      sensor__humidity: 55,
      motion: true,
    });
  });

  it("prefers the decoded object's time, then ChirpStack's, then the receive time", () => {
    const own = parseUp(uplink({ object: { v: 1, ts: 1658136800 } }));
    expect(own.ok && own.reading.ts).toBe(1658136800000);
    const { time: _, ...noTime } = uplink();
    const received = parseUp(noTime);
    expect(received.ok && received.reading.ts).toBe(RECEIVED);
  });

  it('matches the topic DevEUI case-insensitively', () => {
    const r = parseUp(
      uplink({ deviceInfo: { devEui: 'abcdef0123456789' } }),
      TOPIC.replace('0101010101010101', 'ABCDEF0123456789'),
    );
    expect(r.ok && r.reading.devEui).toBe('abcdef0123456789');
    const upper = parseUp(
      uplink({ deviceInfo: { devEui: 'ABCDEF0123456789' } }),
      TOPIC.replace('0101010101010101', 'abcdef0123456789'),
    );
    expect(upper.ok && upper.reading.devEui).toBe('abcdef0123456789');
  });

  const refused: [string, unknown, string, RegExp][] = [
    [
      'DevEUI mismatch',
      uplink({ deviceInfo: { devEui: '0202020202020202' } }),
      'bad-topic',
      /topic DevEUI '0101010101010101' differs from deviceInfo.devEui '0202020202020202'/,
    ],
    ['not an object', [uplink()], 'not-an-object', /uplink is an array/],
    [
      'deviceInfo not an object',
      uplink({ deviceInfo: 'x' }),
      'wrong-type',
      /'deviceInfo' is a string/,
    ],
    ['object is an array', uplink({ object: [1, 2] }), 'wrong-type', /'object' is an array/],
    ['object is a string', uplink({ object: 'aa' }), 'wrong-type', /'object' is a string/],
    ['decoded value out of range', uplink({ object: { p: 1e11 } }), 'out-of-range', /metric 'p'/],
    ['decoded array', uplink({ object: { a: { list: [1] } } }), 'wrong-type', /metric 'a__list'/],
    ['bad uplink time', uplink({ time: 'soon' }), 'bad-timestamp', /'time': 'soon'/],
    [
      'nothing at all',
      { deviceInfo: { devEui: '0101010101010101' } },
      'empty',
      /no decoded object and no radio metadata/,
    ],
  ];
  it.each(refused)('refuses: %s', (_name, body, reason, detail) => {
    const r = parseUp(body);
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect({ reason: r.reason, detail: r.detail }).toEqual({
        reason,
        detail: expect.stringMatching(detail),
      });
  });

  it('refuses protobuf-marshaled uplinks as malformed JSON', () => {
    const r = parseTelemetry(TOPIC, Buffer.from([0x0a, 0x24, 0x33, 0x61, 0x63]), RECEIVED);
    expect(r).toMatchObject({ ok: false, reason: 'malformed-json' });
  });
});

describe('parseTelemetry (Gito topic)', () => {
  it('builds a reading', () => {
    expect(
      parseTelemetry(
        'acme/devices/pump-17/telemetry',
        Buffer.from('{"SI7021":{"Temperature":24.5}}'),
        RECEIVED,
      ),
    ).toEqual({
      ok: true,
      reading: {
        tenantId: 'acme',
        deviceKey: 'pump-17',
        ts: RECEIVED,
        metrics: { SI7021__Temperature: 24.5 },
        source: 'mqtt',
      },
    });
  });

  it('checks the topic before the payload', () => {
    expect(
      parseTelemetry('acme/devices/pump 17/telemetry', Buffer.from('garbage'), RECEIVED),
    ).toMatchObject({
      ok: false,
      reason: 'bad-topic',
    });
  });
});

describe('parseDeviceTelemetry (HTTP path)', () => {
  it('builds a reading with source http', () => {
    expect(parseDeviceTelemetry('acme', 'pump-17', Buffer.from('{"v":1}'), RECEIVED)).toEqual({
      ok: true,
      reading: {
        tenantId: 'acme',
        deviceKey: 'pump-17',
        ts: RECEIVED,
        metrics: { v: 1 },
        source: 'http',
      },
    });
  });

  it('refuses bad ids as bad-topic', () => {
    expect(parseDeviceTelemetry('ac:me', 'p', Buffer.from('{"v":1}'), RECEIVED)).toMatchObject({
      reason: 'bad-topic',
    });
    expect(parseDeviceTelemetry('acme', '..', Buffer.from('{"v":1}'), RECEIVED)).toMatchObject({
      reason: 'bad-topic',
    });
  });
});
