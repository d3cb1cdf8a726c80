// Notifications: channels, templates, the delivery outbox and its dispatcher.
export type { Channel, ChannelDeps, ChannelModule, Rate, SendContext } from './channels/channel.ts';
export { TargetError } from './channels/channel.ts';
export {
  type EmailOptions,
  type EmailTarget,
  emailChannel,
  type SmtpTls,
} from './channels/email.ts';
export { AddressPolicy, classifyAddress } from './channels/http/address-policy.ts';
export { AddressRefusedError, GuardedHttpClient } from './channels/http/guarded-request.ts';
export {
  DELIVERY_HEADER,
  IDEMPOTENCY_HEADER,
  SIGNATURE_HEADER,
  signatureOf,
  TIMESTAMP_HEADER,
  verifySignature,
} from './channels/http/signature.ts';
export type { DeliveryOutcome } from './channels/outcome.ts';
export {
  PAGERDUTY_RATE,
  type PagerDutyOptions,
  type PagerDutyTarget,
  pagerdutyChannel,
  pagerdutyDedupKey,
} from './channels/pagerduty.ts';
export {
  CHANNEL_MODULES,
  CHANNEL_NAMES,
  type ChannelName,
  type ChannelSet,
  type ChannelsOptions,
  channelModule,
  closeChannels,
  createChannels,
  isChannelName,
  type TargetOf,
} from './channels/registry.ts';
export { type SlackOptions, type SlackTarget, slackChannel } from './channels/slack.ts';
export { type SmsOptions, type SmsTarget, smsChannel } from './channels/sms.ts';
export {
  type WebhookBody,
  type WebhookOptions,
  type WebhookTarget,
  webhookChannel,
} from './channels/webhook.ts';
export {
  channelsOptionsFromConfig,
  NOTIFY_CONFIG_VARIABLES,
  type NotifyConfig,
  notifyConfigFromEnv,
} from './config.ts';
export { contactPointFields, targetOfContactPoint } from './contact-points.ts';
export { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './delivery/backoff.ts';
export {
  Dispatcher,
  type DispatcherOptions,
  type DispatchSummary,
  type FailedDelivery,
  type OnFailedHook,
  type RateLimitOptions,
} from './delivery/dispatcher.ts';
export {
  DEFAULT_OUTBOX,
  DeliveryOutbox,
  type DeliveryOutboxOptions,
  DeliveryRejectedError,
  type PlannedDelivery,
} from './delivery/outbox.ts';
export { parseRate, TokenBuckets } from './delivery/rate-limiter.ts';
export { NotifyMetrics } from './metrics.ts';
export {
  createNotificationService,
  type NotificationService,
  type NotificationServiceOptions,
} from './service.ts';
export { DEFAULT_TEMPLATES, defaultTemplate } from './templates/defaults.ts';
export { compileTemplate, TemplateError, templateSyntaxError } from './templates/render.ts';
export {
  escapeSlack,
  type RenderRequest,
  type RenderResult,
  renderMessage,
  SAMPLE_CONTEXT,
  saveTemplateOverride,
  selectOverride,
  type TemplateContext,
  TemplateValidationError,
  validateTemplateOverride,
} from './templates/templates.ts';
export * from './types.ts';
