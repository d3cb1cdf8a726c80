/**
 * The ingest benchmarks' workload, shared by the publisher child, the storage figure and the
 * memory figure: one tenant of simulated devices (`sim-000000`, ... as db/devices/registry.ts's
 * `simulatedDevices` names them), each message a realistic JSON reading with six metrics and the
 * device's own time.
 *
 * Message i goes to device `i % devices` (round-robin: every device once, then again, the fan-in
 * pattern of a fleet reporting on a period) and carries `ts = tsBase + floor(i / devices) * 1000`,
 * so a device's readings are one second apart and (device_id, ts) is unique within a run.
 */

export const TENANT = 'bench';
export const KEY_PREFIX = 'sim-';

/** The topic filter Gito and the counting subscriber subscribe to. */
export const TOPIC_FILTER = '+/devices/+/telemetry';
export const SHARE_GROUP = 'gito';

/** `sim-000042` for index 42 (the same keys as simulatedDevices(count)). */
export function deviceKey(index: number, devices: number): string {
  const width = Math.max(6, String(devices - 1).length);
  return `${KEY_PREFIX}${String(index).padStart(width, '0')}`;
}

export function topicOf(index: number, devices: number): string {
  return `${TENANT}/devices/${deviceKey(index, devices)}/telemetry`;
}

/** Deterministic pseudo-random numbers in [0, 1) (a 32-bit LCG): cheap and reproducible. */
export class Lcg {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    this.s = (Math.imul(this.s, 1_664_525) + 1_013_904_223) >>> 0;
    return this.s / 4_294_967_296;
  }
}

/**
 * One reading as an environmental sensor sends it (~130 bytes): six metrics, one of them
 * nested (flattened by the parser to `env__pressure`), plus the device time in epoch ms.
 */
export function payloadText(ts: number, rnd: Lcg): string {
  const temperature = (18 + rnd.next() * 10).toFixed(2);
  const humidity = (30 + rnd.next() * 40).toFixed(1);
  const pressure = (990 + rnd.next() * 40).toFixed(1);
  const co2 = 400 + Math.floor(rnd.next() * 800);
  const battery = 20 + Math.floor(rnd.next() * 80);
  const rssi = -40 - Math.floor(rnd.next() * 70);
  return `{"ts":${ts},"temperature":${temperature},"humidity":${humidity},"env":{"pressure":${pressure}},"co2":${co2},"battery":${battery},"rssi":${rssi}}`;
}

export function tsOf(i: number, devices: number, tsBase: number): number {
  return tsBase + Math.floor(i / devices) * 1000;
}
