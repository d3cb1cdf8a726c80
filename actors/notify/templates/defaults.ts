import type { NotificationEvent } from '../types.ts';

/**
 * Built-in templates, by channel and event ('*' = any channel). A tenant's rows in
 * notification_templates replace them per channel, event and severity. The context they render
 * is described in templates.ts (TemplateContext).
 */

export interface TemplateText {
  readonly title: string;
  readonly body: string;
}

const subject = '{{alert.rule.name}}{{#alert.device}} on {{alert.device.name}}{{/alert.device}}';

const details = `{{#alert.summary}}{{alert.summary}}
{{/alert.summary}}{{#alert.device}}Device: {{alert.device.name}}{{#alert.device.key}} ({{alert.device.key}}){{/alert.device.key}}
{{/alert.device}}Severity: {{alert.severity}}
{{#alert.openedAt}}Opened: {{alert.openedAt}}
{{/alert.openedAt}}{{#alert.values}}Values: {{alert.values}}
{{/alert.values}}`;

const GENERIC: Record<NotificationEvent, TemplateText> = {
  firing: {
    title: `[{{alert.severity}}] ${subject}`,
    body: `{{alert.rule.name}} is firing.\n${details}`,
  },
  acknowledged: {
    title: `[acknowledged] ${subject}`,
    body: `{{alert.rule.name}} was acknowledged{{#alert.acknowledgedBy}} by {{alert.acknowledgedBy}}{{/alert.acknowledgedBy}}.\n${details}`,
  },
  resolved: {
    title: `[resolved] ${subject}`,
    body: `{{alert.rule.name}} is resolved{{#alert.resolveReason}} ({{alert.resolveReason}}){{/alert.resolveReason}}.\n${details}`,
  },
};

const SMS: Record<NotificationEvent, TemplateText> = {
  firing: {
    title: '',
    body: `[{{alert.severity}}] ${subject}{{#alert.summary}}: {{alert.summary}}{{/alert.summary}}{{#links.alert}} {{links.alert}}{{/links.alert}}`,
  },
  acknowledged: {
    title: '',
    body: `[ack] ${subject}{{#alert.acknowledgedBy}} by {{alert.acknowledgedBy}}{{/alert.acknowledgedBy}}`,
  },
  resolved: { title: '', body: `[resolved] ${subject}` },
};

const SLACK: Record<NotificationEvent, TemplateText> = {
  firing: { title: `:rotating_light: *[{{alert.severity}}] ${subject}*`, body: details },
  acknowledged: {
    title: `:eyes: *[acknowledged] ${subject}*`,
    body: `Acknowledged{{#alert.acknowledgedBy}} by {{alert.acknowledgedBy}}{{/alert.acknowledgedBy}}.\n${details}`,
  },
  resolved: { title: `:white_check_mark: *[resolved] ${subject}*`, body: details },
};

const PAGERDUTY: Record<NotificationEvent, TemplateText> = {
  firing: {
    title: `${subject}{{#alert.summary}}: {{alert.summary}}{{/alert.summary}}`,
    body: details,
  },
  acknowledged: { title: subject, body: details },
  resolved: { title: subject, body: details },
};

export const DEFAULT_TEMPLATES: Readonly<Record<string, Record<NotificationEvent, TemplateText>>> =
  {
    '*': GENERIC,
    sms: SMS,
    slack: SLACK,
    pagerduty: PAGERDUTY,
  };

export function defaultTemplate(channel: string, event: NotificationEvent): TemplateText {
  return (DEFAULT_TEMPLATES[channel] ?? GENERIC)[event];
}
