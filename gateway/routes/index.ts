import { alertsResource } from './alerts.ts';
import { apiKeysResource } from './api-keys.ts';
import { authResource } from './auth.ts';
import { contactPointsResource } from './contact-points.ts';
import type { ApiResource } from './context.ts';
import { deliveriesResource } from './deliveries.ts';
import { deviceStatusResource } from './device-status.ts';
import { devicesResource } from './devices.ts';
import { escalationPoliciesResource } from './escalation-policies.ts';
import { groupsResource } from './groups.ts';
import { ingestResource } from './ingest.ts';
import { maintenanceResource } from './maintenance.ts';
import { operatorsResource } from './operators.ts';
import { preferencesResource } from './preferences.ts';
import { rulesResource } from './rules.ts';
import { teamsResource } from './teams.ts';
import { telemetryResource } from './telemetry.ts';
import { templatesResource } from './templates.ts';
import { tenantsResource } from './tenants.ts';
import { usersResource } from './users.ts';

/** Every resource of /api/v1. Adding one: a file in this folder and a line here. */
export const API_RESOURCES: readonly ApiResource[] = [
  authResource,
  tenantsResource,
  usersResource,
  teamsResource,
  apiKeysResource,
  devicesResource,
  deviceStatusResource,
  groupsResource,
  telemetryResource,
  ingestResource,
  operatorsResource,
  rulesResource,
  maintenanceResource,
  alertsResource,
  contactPointsResource,
  preferencesResource,
  escalationPoliciesResource,
  templatesResource,
  deliveriesResource,
];
