// The gateway's typed queries. Every function takes the tenant id and filters by it.
export * from './api-keys.ts';
export * from './common.ts';
export * from './dead-letters.ts';
export * from './devices.ts';
export * from './groups.ts';
export * from './teams.ts';
export * from './telemetry.ts';
export * from './tenants.ts';
export * from './users.ts';
