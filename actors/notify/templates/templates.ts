import type { Queryable } from '../../../db/notify/sql.ts';
import {
  type TemplateOverride,
  type TemplateOverrideInput,
  upsertTemplateOverride,
} from '../../../db/notify/templates.ts';
import { isChannelName } from '../channels/registry.ts';
import type { NotifyMetrics } from '../metrics.ts';
import {
  type MessageLink,
  NOTIFICATION_EVENTS,
  type NotificationEvent,
  type RenderedMessage,
  SEVERITIES,
} from '../types.ts';
import { defaultTemplate, type TemplateText } from './defaults.ts';
import { compileTemplate, TemplateError } from './render.ts';

/**
 * Rendering a notification: pick the template (the tenant's most specific override, else the
 * default), render title and body with the alert's context, shape them for the channel. A
 * tenant template that fails falls back to the default, with a warning returned and
 * gito_notify_template_fallbacks_total counted.
 */

/**
 * What templates see. `alert` is required; `event`, `tenant` and `links` are always present
 * (filled in when missing). Extra fields are allowed and reach webhooks and PagerDuty as details.
 */
export interface TemplateContext {
  readonly alert: {
    readonly id: string;
    readonly severity: string;
    readonly state?: string;
    readonly summary?: string;
    /** ISO 8601. */
    readonly openedAt?: string;
    readonly count?: number;
    readonly rule: { readonly id: string; readonly name: string };
    readonly device?: { readonly key: string; readonly name?: string } | null;
    readonly values?: Readonly<Record<string, unknown>>;
    readonly acknowledgedBy?: string;
    readonly resolveReason?: string;
    readonly [key: string]: unknown;
  };
  readonly links?: { readonly alert?: string; readonly acknowledge?: string };
  readonly tenant?: { readonly id: string; readonly name?: string };
  readonly recipient?: { readonly name?: string };
  readonly [key: string]: unknown;
}

export interface RenderRequest {
  readonly channel: string;
  readonly event: NotificationEvent;
  readonly severity: string;
  readonly tenantId: string;
  readonly alertId: string | null;
  readonly context: TemplateContext | Readonly<Record<string, unknown>>;
  readonly occurredAt: number;
  /** Default: context.links.alert and .acknowledge. */
  readonly links?: readonly MessageLink[];
  /** Default: the device's name or key, else the rule's name. */
  readonly source?: string;
}

export interface RenderResult {
  readonly message: RenderedMessage;
  /** Non-empty when a tenant template failed and the default was used. */
  readonly warnings: readonly string[];
}

/** Slack mrkdwn control characters in user values. */
export const escapeSlack = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const ESCAPES: Record<string, (text: string) => string> = { slack: escapeSlack };

/** The override for (channel, event, severity): exact, then event, then severity, then any. */
export function selectOverride(
  overrides: readonly TemplateOverride[],
  channel: string,
  event: NotificationEvent,
  severity: string,
): TemplateOverride | undefined {
  let best: TemplateOverride | undefined;
  let bestScore = -1;
  for (const o of overrides) {
    if (o.channel !== channel) continue;
    if (o.event !== '*' && o.event !== event) continue;
    if (o.severity !== '*' && o.severity !== severity) continue;
    const score = (o.event === '*' ? 0 : 2) + (o.severity === '*' ? 0 : 1);
    if (score > bestScore) {
      best = o;
      bestScore = score;
    }
  }
  return best;
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

const field = (value: unknown, key: string): unknown =>
  value !== null && typeof value === 'object' && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;

function defaultLinks(context: Readonly<Record<string, unknown>>): MessageLink[] {
  const links: MessageLink[] = [];
  const alert = str(field(context.links, 'alert'));
  const ack = str(field(context.links, 'acknowledge'));
  if (alert !== undefined) links.push({ href: alert, text: 'Open alert' });
  if (ack !== undefined) links.push({ href: ack, text: 'Acknowledge' });
  return links;
}

function defaultSource(context: Readonly<Record<string, unknown>>): string {
  const device = field(context.alert, 'device');
  return (
    str(field(device, 'name')) ??
    str(field(device, 'key')) ??
    str(field(field(context.alert, 'rule'), 'name')) ??
    'gito'
  );
}

/** Channel limits and conventions on the rendered text. */
function shape(channel: string, text: TemplateText): TemplateText {
  let { title, body } = text;
  body = body.replace(/\n{3,}/g, '\n\n').trim();
  title = title.trim();
  if (channel === 'email' || channel === 'pagerduty' || channel === 'webhook') {
    title = title.replace(/\s*[\r\n]+\s*/g, ' ');
  }
  if (channel === 'email') title = title.slice(0, 250);
  if (channel === 'pagerduty') title = title.slice(0, 1024);
  if (channel === 'sms') title = '';
  return { title, body };
}

function renderText(
  template: TemplateText,
  context: Readonly<Record<string, unknown>>,
  escapeText: ((text: string) => string) | undefined,
): TemplateText {
  return {
    title: compileTemplate(template.title).render(context, escapeText),
    body: compileTemplate(template.body).render(context, escapeText),
  };
}

/** JSON-safe copy (what the outbox stores). */
function plain(value: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

export function renderMessage(
  request: RenderRequest,
  overrides: readonly TemplateOverride[] = [],
  metrics?: NotifyMetrics,
): RenderResult {
  const { channel, event, severity } = request;
  const context: Record<string, unknown> = {
    event,
    tenant: { id: request.tenantId },
    links: {},
    ...plain(request.context),
  };
  const escapeText = ESCAPES[channel];
  const warnings: string[] = [];
  const fallback = defaultTemplate(channel, event);
  let text: TemplateText | undefined;
  const override = selectOverride(overrides, channel, event, severity);
  if (override !== undefined) {
    try {
      text = renderText(
        { title: override.title === '' ? fallback.title : override.title, body: override.body },
        context,
        escapeText,
      );
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      warnings.push(
        `template ${override.id} (${channel}/${override.event}/${override.severity}) failed: ${reason}; the default template was used`,
      );
      metrics?.templateFallbacks.inc({ channel });
    }
  }
  if (text === undefined) {
    try {
      text = renderText(fallback, context, escapeText);
    } catch (err) {
      // The defaults only name fields the context always has; a context without `alert` lands here.
      const reason = err instanceof Error ? err.message : String(err);
      warnings.push(`default template failed: ${reason}`);
      text = { title: `Gito ${event} alert (${severity})`, body: `Alert ${request.alertId ?? ''}` };
    }
  }
  const shaped = shape(channel, text);
  return {
    message: {
      event,
      tenantId: request.tenantId,
      alertId: request.alertId,
      severity,
      title: shaped.title,
      body: shaped.body,
      links: request.links ?? defaultLinks(context),
      source: request.source ?? defaultSource(context),
      details: context,
      occurredAt: request.occurredAt,
    },
    warnings,
  };
}

/** A context with every field the defaults use, for checking a template before it is saved. */
export const SAMPLE_CONTEXT: TemplateContext = {
  event: 'firing',
  alert: {
    id: '42',
    severity: 'critical',
    state: 'active',
    summary: 'temperature 31.5 > 30 for 5m',
    openedAt: '2026-01-01T12:00:00.000Z',
    count: 1,
    rule: { id: '7', name: 'Freezer too warm' },
    device: { key: 'freezer-3', name: 'Freezer 3' },
    values: { temperature: 31.5 },
    acknowledgedBy: 'ana@example.com',
    resolveReason: 'cleared',
  },
  links: {
    alert: 'https://gito.example.com/alerts/42',
    acknowledge: 'https://gito.example.com/alerts/42/ack',
  },
  tenant: { id: 'acme', name: 'Acme' },
  recipient: { name: 'Ana' },
};

export class TemplateValidationError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'TemplateValidationError';
  }
}

/**
 * Checks an override: known channel, event and severity, and title and body that compile and
 * render against SAMPLE_CONTEXT (which catches misspelt names). Throws naming the field.
 */
export function validateTemplateOverride(input: TemplateOverrideInput): void {
  if (!isChannelName(input.channel)) {
    throw new TemplateValidationError('channel', `unknown channel '${input.channel}'`);
  }
  if (input.event !== '*' && !NOTIFICATION_EVENTS.includes(input.event)) {
    throw new TemplateValidationError('event', `must be *, ${NOTIFICATION_EVENTS.join(', ')}`);
  }
  if (input.severity !== '*' && !(SEVERITIES as readonly string[]).includes(input.severity)) {
    throw new TemplateValidationError('severity', `must be *, ${SEVERITIES.join(', ')}`);
  }
  for (const key of ['title', 'body'] as const) {
    try {
      compileTemplate(input[key]).render(SAMPLE_CONTEXT);
    } catch (err) {
      if (err instanceof TemplateError) throw new TemplateValidationError(key, err.message);
      throw err;
    }
  }
}

/** validateTemplateOverride, then store it. */
export async function saveTemplateOverride(
  db: Queryable,
  input: TemplateOverrideInput,
): Promise<TemplateOverride> {
  validateTemplateOverride(input);
  return upsertTemplateOverride(db, input);
}
