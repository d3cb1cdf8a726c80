import type { Logger } from '../../../runtime/logger.ts';
import type { RenderedMessage } from '../types.ts';
import type { AddressPolicy } from './http/address-policy.ts';
import type { DeliveryOutcome } from './outcome.ts';

export type { DeliveryOutcome } from './outcome.ts';

export interface SendContext {
  /** Stable across retries of one delivery: providers that deduplicate use it. */
  readonly idempotencyKey: string;
  /** Aborts the send (timeout, shutdown). */
  readonly signal: AbortSignal;
  /** The delivery's id, for providers' logs and the webhook body. */
  readonly deliveryId?: string;
  /** 1 for the first attempt. */
  readonly attempt?: number;
}

/**
 * A way to notify: turns a rendered message into one provider call. `send` never throws for a
 * failed send: it says whether trying again may help (retryable, with the provider's Retry-After)
 * or not (permanent, with the reason).
 */
export interface Channel<Target> {
  readonly name: string;
  send(message: RenderedMessage, target: Target, ctx: SendContext): Promise<DeliveryOutcome>;
  /** Releases connections (SMTP pool, agents). */
  close?(): Promise<void>;
}

/** `count` events per `intervalMs`, at most `count` at once. */
export interface Rate {
  readonly count: number;
  readonly intervalMs: number;
}

/** What every channel may use. */
export interface ChannelDeps {
  readonly logger: Logger;
  /** Where HTTP channels with user-given URLs (webhook, Slack) may connect. */
  readonly addressPolicy: AddressPolicy;
}

/**
 * One channel: how its targets look, how they are keyed, and how to build its sender from
 * operator options. A new channel is one module exporting this plus one line in registry.ts.
 */
export interface ChannelModule<Name extends string, Target, Options> {
  readonly name: Name;
  /** Checks a target (a contact point's fields); throws TargetError naming the bad field. */
  parseTarget(value: unknown): Target;
  /** Target fields stored sealed in contact_points.secret. */
  readonly secretFields: readonly string[];
  /** What a UI may show: never a secret. */
  describe(target: Target): string;
  /**
   * Deliveries with the same key are sent in order, one at a time: the destination (an
   * address, a URL), or for PagerDuty the incident (routing key + alert), whose trigger,
   * acknowledge and resolve must arrive in that order while other incidents go in parallel.
   */
  recipientKey(target: Target, message: RenderedMessage): string;
  /** A limit the provider sets per target (PagerDuty: 120 events/min per routing key). */
  readonly targetRate?: { key(target: Target): string; readonly rate: Rate };
  /** The sender; undefined when the operator configured nothing for it (e.g. no SMTP host). */
  create(options: Options | undefined, deps: ChannelDeps): Channel<Target> | undefined;
}

/** A refused target: `field` names the offending field. */
export class TargetError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'TargetError';
  }
}

/** Helpers for parseTarget: read typed fields or throw TargetError naming them. */
export function targetObject(value: unknown, channel: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TargetError(channel, 'target must be an object');
  }
  return value as Record<string, unknown>;
}

export function requiredString(
  obj: Record<string, unknown>,
  field: string,
  check?: { pattern?: RegExp; max?: number; hint?: string },
): string {
  const value = obj[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new TargetError(field, 'is required (a non-empty string)');
  }
  if (check?.max !== undefined && value.length > check.max) {
    throw new TargetError(field, `is longer than ${check.max} characters`);
  }
  if (check?.pattern !== undefined && !check.pattern.test(value)) {
    throw new TargetError(field, check.hint ?? `does not match ${check.pattern}`);
  }
  return value;
}

export function optionalString(
  obj: Record<string, unknown>,
  field: string,
  max = 200,
): string | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new TargetError(field, 'must be a string');
  if (value.length > max) throw new TargetError(field, `is longer than ${max} characters`);
  return value;
}

/** An http(s) URL without a fragment. */
export function httpUrl(obj: Record<string, unknown>, field: string): string {
  const text = requiredString(obj, field, { max: 2000 });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TargetError(field, 'is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TargetError(field, `must be http or https, got ${url.protocol.slice(0, -1)}`);
  }
  if (url.hash !== '') throw new TargetError(field, 'must not contain a #fragment');
  return url.toString();
}
