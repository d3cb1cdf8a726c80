/**
 * ChirpStack v4 uplink events (`application/{applicationId}/device/{devEui}/event/up`, JSON
 * marshaler). Metrics are the decoded `object`, flattened like a Gito payload, plus radio
 * metadata under these names:
 *
 * | metric            | from                                              |
 * | ----------------- | ------------------------------------------------- |
 * | `rssi`, `snr`     | the `rxInfo[]` gateway with the highest rssi      |
 * | `frequency`       | `txInfo.frequency` (Hz)                           |
 * | `spreadingFactor` | `txInfo.modulation.lora.spreadingFactor`          |
 * | `fCnt`            | `fCnt` (uplink frame counter)                     |
 *
 * Radio metadata that is absent or not a finite number is left out (ChirpStack omits zero
 * values). It overrides a decoded metric of the same name: the network's measurement wins.
 * The time is the decoded object's `ts`/`timestamp`/`time` if any, else the uplink's `time`
 * (set by ChirpStack), else the receive time.
 */
import {
  decodeJson,
  describeJsonType,
  isEmpty,
  isPlainObject,
  type Metrics,
  parseDeviceTime,
  type Refusal,
  readTelemetryObject,
  refuse,
} from './payload.ts';
import { quote } from './topics.ts';
import type { IngestLimits } from './types.ts';

export type ChirpStackResult =
  | {
      readonly ok: true;
      readonly ts: number;
      /** Whether `ts` came from the uplink (decoded object or ChirpStack's `time`). */
      readonly deviceTime: boolean;
      readonly metrics: Metrics;
      /** `deviceInfo.deviceName`, if present. */
      readonly deviceName: string | undefined;
    }
  | Refusal;

/** Longest `deviceInfo.deviceName` kept (ChirpStack allows 100). */
const MAX_DEVICE_NAME = 256;

function finite(v: unknown, maxAbs: number): v is number {
  return typeof v === 'number' && Math.abs(v) <= maxAbs;
}

/**
 * Parses a ChirpStack v4 uplink. `devEui` is the topic's DevEUI (lower case); a different
 * `deviceInfo.devEui` in the payload is refused as `bad-topic`.
 */
export function parseChirpStackUplink(
  devEui: string,
  payload: Uint8Array,
  receivedAt: number,
  limits: IngestLimits,
): ChirpStackResult {
  const decoded = decodeJson(payload, limits);
  if (!decoded.ok) return decoded;
  const up = decoded.value;
  if (!isPlainObject(up)) {
    return refuse(
      'not-an-object',
      `uplink is ${describeJsonType(up)}, expected a ChirpStack event object`,
    );
  }

  let deviceName: string | undefined;
  const info = up.deviceInfo;
  if (info !== undefined && info !== null) {
    if (!isPlainObject(info)) {
      return refuse('wrong-type', `'deviceInfo' is ${describeJsonType(info)}, expected an object`);
    }
    const eui = info.devEui;
    if (typeof eui === 'string' && eui.toLowerCase() !== devEui) {
      return refuse(
        'bad-topic',
        `topic DevEUI '${devEui}' differs from deviceInfo.devEui ${quote(eui, 32)}`,
      );
    }
    if (typeof info.deviceName === 'string' && info.deviceName.length <= MAX_DEVICE_NAME) {
      deviceName = info.deviceName;
    }
  }

  const object = up.object;
  let metrics: Metrics;
  let ts: number | undefined;
  if (object === undefined || object === null) {
    metrics = {};
  } else if (isPlainObject(object)) {
    const body = readTelemetryObject(object, receivedAt, limits);
    if (!body.ok) return body;
    metrics = body.metrics;
    ts = body.ts;
  } else {
    return refuse('wrong-type', `'object' is ${describeJsonType(object)}, expected an object`);
  }
  if (ts === undefined && up.time !== undefined && up.time !== null) {
    const t = parseDeviceTime(up.time, receivedAt);
    if (typeof t !== 'number') return refuse('bad-timestamp', `'time': ${t}`);
    ts = t;
  }

  const maxAbs = limits.maxAbsValue;
  const rx = up.rxInfo;
  if (Array.isArray(rx)) {
    let best: Record<string, unknown> | undefined;
    for (const g of rx) {
      if (!isPlainObject(g)) continue;
      if (best === undefined) best = g;
      else if (finite(g.rssi, maxAbs) && !(finite(best.rssi, maxAbs) && best.rssi >= g.rssi)) {
        best = g;
      }
    }
    if (best !== undefined) {
      if (finite(best.rssi, maxAbs)) metrics.rssi = best.rssi;
      if (finite(best.snr, maxAbs)) metrics.snr = best.snr;
    }
  }
  const tx = up.txInfo;
  if (isPlainObject(tx)) {
    if (finite(tx.frequency, maxAbs)) metrics.frequency = tx.frequency;
    const modulation = tx.modulation;
    if (isPlainObject(modulation) && isPlainObject(modulation.lora)) {
      const sf = modulation.lora.spreadingFactor;
      if (finite(sf, maxAbs)) metrics.spreadingFactor = sf;
    }
  }
  if (finite(up.fCnt, maxAbs)) metrics.fCnt = up.fCnt;

  if (isEmpty(metrics)) {
    return refuse('empty', 'uplink has no decoded object and no radio metadata');
  }
  return { ok: true, ts: ts ?? receivedAt, deviceTime: ts !== undefined, metrics, deviceName };
}
