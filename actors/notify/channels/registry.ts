import type { Logger } from '../../../runtime/logger.ts';
import type { Channel, ChannelDeps, ChannelModule } from './channel.ts';
import { emailChannel } from './email.ts';
import { pagerdutyChannel } from './pagerduty.ts';
import { slackChannel } from './slack.ts';
import { smsChannel } from './sms.ts';
import { webhookChannel } from './webhook.ts';

/**
 * Every channel Gito knows. Adding one: write its module (a ChannelModule) and list it here.
 * (contact_points.kind has a CHECK listing the kinds a user may store; extend it in a migration
 * when the new channel should be a contact point.)
 */
export const CHANNEL_MODULES = [
  emailChannel,
  smsChannel,
  slackChannel,
  webhookChannel,
  pagerdutyChannel,
] as const;

type Module = (typeof CHANNEL_MODULES)[number];

export type ChannelName = Module['name'];

export const CHANNEL_NAMES: readonly ChannelName[] = CHANNEL_MODULES.map((m) => m.name);

/** Operator options per channel (absent = defaults; email and sms need theirs to work). */
export type ChannelsOptions = {
  [M in Module as M['name']]?: M extends ChannelModule<string, unknown, infer O> ? O : never;
};

/** The target type of a channel. */
export type TargetOf<N extends ChannelName> =
  Extract<Module, { name: N }> extends ChannelModule<string, infer T, unknown> ? T : never;

/** A channel module with its types erased, for code that handles any channel. */
export type AnyChannelModule = ChannelModule<ChannelName, unknown, unknown>;

export function isChannelName(name: string): name is ChannelName {
  return (CHANNEL_NAMES as readonly string[]).includes(name);
}

export function channelModule(name: string): AnyChannelModule | undefined {
  return (CHANNEL_MODULES as readonly AnyChannelModule[]).find((m) => m.name === name);
}

/** The senders this node can use, by channel name. */
export type ChannelSet = ReadonlyMap<string, Channel<unknown>>;

/**
 * Builds every channel that is configured. A channel whose options are missing where it needs
 * them (no SMTP host, no Twilio account) is left out: its deliveries fail with that reason.
 */
export function createChannels(
  options: ChannelsOptions,
  deps: ChannelDeps,
  logger?: Logger,
): Map<string, Channel<unknown>> {
  const out = new Map<string, Channel<unknown>>();
  for (const module of CHANNEL_MODULES as readonly AnyChannelModule[]) {
    const channel = module.create(options[module.name as ChannelName], deps);
    if (channel === undefined) {
      logger?.info({ channel: module.name }, 'notification channel not configured');
      continue;
    }
    out.set(module.name, channel);
  }
  return out;
}

export async function closeChannels(channels: ChannelSet): Promise<void> {
  await Promise.all([...channels.values()].map((c) => c.close?.()));
}
