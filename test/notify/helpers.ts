import type { ChannelDeps, SendContext } from '../../actors/notify/channels/channel.ts';
import { AddressPolicy } from '../../actors/notify/channels/http/address-policy.ts';
import type { RenderedMessage } from '../../actors/notify/types.ts';
import { silentLogger } from '../../runtime/logger.ts';

/** Channel deps whose address policy admits the loopback fakes. */
export const loopbackDeps: ChannelDeps = {
  logger: silentLogger,
  addressPolicy: new AddressPolicy(['127.0.0.1/32']),
};

export function message(overrides: Partial<RenderedMessage> = {}): RenderedMessage {
  return {
    event: 'firing',
    tenantId: 'acme',
    alertId: '42',
    severity: 'critical',
    title: '[critical] Freezer too warm on Freezer 3',
    body: 'Freezer too warm is firing.\nTemperature 31.5',
    links: [{ href: 'https://gito.example.com/alerts/42', text: 'Open alert' }],
    source: 'Freezer 3',
    details: { alert: { id: '42', severity: 'critical' } },
    occurredAt: Date.parse('2026-01-01T12:00:00Z'),
    ...overrides,
  };
}

let counter = 0;

export function sendContext(timeoutMs = 5000, key?: string): SendContext {
  counter++;
  return {
    idempotencyKey: key ?? `test-key-${counter}`,
    signal: AbortSignal.timeout(timeoutMs),
    deliveryId: String(counter),
    attempt: 1,
  };
}
