/** Resource schemas used by more than one route file. */
import { Type } from '@sinclair/typebox';
import { DEVICE_ID_PATTERN, TENANT_ID_PATTERN } from '../../actors/ingest/topics.ts';
import { Id, Nullable, Timestamp } from '../http/schemas.ts';

export const TenantSlug = Type.String({
  pattern: TENANT_ID_PATTERN.source,
  description: 'Tenant id: a slug (letters, digits, _ . -), 1-64 characters',
});

/** A device key is the device id of its MQTT topic; the same rule as ingestion applies. */
export const DeviceKey = Type.String({
  pattern: DEVICE_ID_PATTERN.source,
  description: 'Device key (the MQTT topic device id): 1-128 of A-Z a-z 0-9 . _ -',
});

export const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\s,]+$' });
export const Tags = Type.Array(Tag, { maxItems: 50, uniqueItems: true });

export const StaffRole = Type.Union([
  Type.Literal('admin'),
  Type.Literal('operator'),
  Type.Literal('viewer'),
]);

export const Email = Type.String({ format: 'email', maxLength: 320 });
export const Phone = Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164' });

export const UserSchema = Type.Object({
  id: Id,
  email: Type.String(),
  displayName: Nullable(Type.String()),
  role: StaffRole,
  phone: Nullable(Type.String()),
  disabled: Type.Boolean(),
  hasPassword: Type.Boolean(),
  lastLoginAt: Nullable(Timestamp),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const Connectivity = Type.Union([
  Type.Literal('unknown'),
  Type.Literal('online'),
  Type.Literal('offline'),
]);

export const DeviceSchema = Type.Object({
  id: Id,
  key: Type.String(),
  name: Nullable(Type.String()),
  type: Nullable(Type.String()),
  tags: Type.Array(Type.String()),
  attributes: Type.Record(Type.String(), Type.Unknown()),
  enabled: Type.Boolean(),
  devEui: Nullable(Type.String()),
  status: Connectivity,
  lastSeen: Nullable(Timestamp),
  battery: Nullable(Type.Number()),
  firmware: Nullable(Type.String()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
