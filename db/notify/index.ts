// Notification storage: recipients, preferences, policies, templates and the delivery outbox.
export * from './contact-points.ts';
export * from './deliveries.ts';
export * from './escalation-policies.ts';
export * from './preferences.ts';
export * from './secrets.ts';
export { inTransaction, type Queryable } from './sql.ts';
export * from './templates.ts';
