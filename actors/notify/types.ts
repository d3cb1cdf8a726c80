import type { NotificationEvent } from '../../db/notify/deliveries.ts';

export { NOTIFICATION_EVENTS, type NotificationEvent } from '../../db/notify/deliveries.ts';

/** Alert severities (alerts.severity). Templates and channels accept any string for forward use. */
export type Severity = 'critical' | 'major' | 'minor' | 'warning' | 'info';
export const SEVERITIES: readonly Severity[] = ['critical', 'major', 'minor', 'warning', 'info'];

export interface MessageLink {
  readonly href: string;
  readonly text?: string;
}

/**
 * A notification ready to send: rendered once when it is planned (so every retry sends the
 * same words), stored as the delivery's payload, and shaped by each channel into its format.
 */
export interface RenderedMessage {
  readonly event: NotificationEvent;
  readonly tenantId: string;
  /** null for a message about no alert (a test message). */
  readonly alertId: string | null;
  readonly severity: string;
  /** E-mail subject, PagerDuty summary, Slack headline, webhook title. */
  readonly title: string;
  /** Plain-text body (Slack: mrkdwn with user values escaped). */
  readonly body: string;
  readonly links: readonly MessageLink[];
  /** What the alert is about (device or rule name): PagerDuty's `source`. */
  readonly source: string;
  /** Structured context (the template context): webhook body, PagerDuty custom_details. */
  readonly details: Readonly<Record<string, unknown>>;
  /** When the alert event happened (ms). */
  readonly occurredAt: number;
}
