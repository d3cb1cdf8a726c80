export {
  BATTERY_METRICS,
  batteryPercent,
  FIRMWARE_METRICS,
  firmwareVersion,
  RSSI_METRIC,
  SNR_METRIC,
} from './derived.ts';
export {
  createDeviceActor,
  DEFAULT_MAX_METRICS,
  DEFAULT_OFFLINE_AFTER_MS,
  DEFAULT_SNAPSHOT_EVERY_MS,
  DEVICE_KIND,
  type DeviceActorDefinition,
  type DeviceActorOptions,
  type DeviceTeller,
  deviceActorId,
  deviceStatus,
  deviceStatuses,
  type StatusAsker,
  splitDeviceKey,
  wakeDevices,
} from './device-actor.ts';
export type { DeviceState } from './state.ts';
export type * from './types.ts';
