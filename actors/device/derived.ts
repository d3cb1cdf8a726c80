/**
 * Well-known metrics a device's status lifts out of its last values: battery, signal and
 * firmware. They are not stored twice: the status reads them from the metric table when asked.
 */
import type { MetricValue } from './types.ts';

/** Metric names read as the battery level, in percent (see batteryPercent). */
export const BATTERY_METRICS: readonly string[] = [
  'battery',
  'batt',
  'battery_level',
  'BatteryLevel',
];
/** Metric names read as the firmware version (a string; a number is turned into one). */
export const FIRMWARE_METRICS: readonly string[] = [
  'fw',
  'firmware',
  'firmware_version',
  'fwVersion',
];
/** Radio metadata the ChirpStack path adds as metrics (dBm and dB). */
export const RSSI_METRIC = 'rssi';
export const SNR_METRIC = 'snr';

const BATTERY = 0;
const RSSI = 1;
const SNR = 2;
const FIRMWARE = 3;
const ROLES = 4;

const ROLE_OF = new Map<string, number>([
  ...BATTERY_METRICS.map((name) => [name, BATTERY] as const),
  ...FIRMWARE_METRICS.map((name) => [name, FIRMWARE] as const),
  [RSSI_METRIC, RSSI],
  [SNR_METRIC, SNR],
]);

/**
 * Battery level in percent, 0..100. A value strictly between 0 and 1 is a fraction and is scaled
 * by 100 (0.85 -> 85); 0 and 1 are taken as percent (1 means 1 %, not full: a fraction-reporting
 * device sends 0.99 or 1 for full and reads 1 % at full charge, which is the documented
 * ambiguity). Anything else outside 0..100 (millivolts, negative, not a number) is not a level:
 * null, while the raw value stays in the metrics.
 */
export function batteryPercent(value: MetricValue): number | null {
  if (typeof value !== 'number' || !(value >= 0 && value <= 100)) return null;
  if (value > 0 && value < 1) return Math.round(value * 10_000) / 100;
  return value;
}

/** Firmware version as a string; numbers are accepted (2 -> "2"), empty strings and booleans not. */
export function firmwareVersion(value: MetricValue): string | null {
  if (typeof value === 'string') return value.length > 0 ? value : null;
  if (typeof value === 'number') return String(value);
  return null;
}

function finite(value: MetricValue): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export interface DerivedStatus {
  battery: number | null;
  rssi: number | null;
  snr: number | null;
  firmware: string | null;
}

/**
 * Reads the well-known metrics out of parallel name/value/time arrays (`ts[tsOffset + i]` is the
 * time of `names[i]`). Where several aliases are present, the newest reading wins.
 */
export function deriveStatus(
  names: readonly string[],
  values: readonly MetricValue[],
  ts: readonly number[],
  tsOffset: number,
): DerivedStatus {
  const out: DerivedStatus = { battery: null, rssi: null, snr: null, firmware: null };
  const newest: number[] = [];
  for (let role = 0; role < ROLES; role++) newest.push(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < names.length; i++) {
    const role = ROLE_OF.get(names[i]!);
    if (role === undefined) continue;
    const at = ts[tsOffset + i]!;
    if (!(at > newest[role]!)) continue;
    const value = values[i]!;
    switch (role) {
      case BATTERY: {
        const level = batteryPercent(value);
        if (level === null) continue;
        out.battery = level;
        break;
      }
      case RSSI:
      case SNR: {
        const n = finite(value);
        if (n === null) continue;
        if (role === RSSI) out.rssi = n;
        else out.snr = n;
        break;
      }
      default: {
        const fw = firmwareVersion(value);
        if (fw === null) continue;
        out.firmware = fw;
      }
    }
    newest[role] = at;
  }
  return out;
}
