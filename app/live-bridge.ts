import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LiveEvent, LiveEvents, LiveListener } from '../gateway/live/events.ts';

/**
 * Live events across a cluster: a device or alert changes on the node that owns it, but the
 * dashboard may be connected to any node or gateway. Each process publishes its events to a
 * Redis channel and feeds what the others publish into its local bus. At most once, like the
 * stream itself: a client that misses events reloads its view (the API has the state).
 */
export class RedisLiveEvents implements LiveEvents {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channel: string;

  constructor(
    private readonly local: LiveEvents,
    redisUrl: string,
    clusterName: string,
    private readonly origin: string,
    private readonly logger: Logger,
  ) {
    this.channel = `gito:${clusterName}:live`;
    const options = { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false };
    this.pub = new Redis(redisUrl, options);
    this.sub = new Redis(redisUrl, { ...options, enableOfflineQueue: true });
    for (const r of [this.pub, this.sub]) {
      r.on('error', (err) => this.logger.debug({ err: String(err) }, 'live bridge: redis error'));
    }
    void this.sub.subscribe(this.channel).catch((err: unknown) => {
      this.logger.warn({ err: String(err) }, 'live bridge: subscribe failed');
    });
    this.sub.on('message', (_channel: string, text: string) => {
      try {
        const { origin, event } = JSON.parse(text) as { origin: string; event: LiveEvent };
        if (origin !== this.origin) this.local.publish(event);
      } catch (err) {
        this.logger.warn({ err: String(err) }, 'live bridge: unreadable message');
      }
    });
  }

  publish(event: LiveEvent): void {
    this.local.publish(event);
    this.pub.publish(this.channel, JSON.stringify({ origin: this.origin, event })).catch(() => {
      // Redis down: local clients still get it; remote ones reload when it is back.
    });
  }

  subscribe(tenantId: string, listener: LiveListener): () => void {
    return this.local.subscribe(tenantId, listener);
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}
