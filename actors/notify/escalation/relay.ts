import type { AlertOutbox, OutboxEntry } from '../../../db/alerts/outbox.ts';
import type { ActorId, Logger } from '../../../runtime/index.ts';
import { escalationActorId } from './ids.ts';

/** What can ask an actor anywhere (an ActorSystem or a ClusterNode). */
export interface Asker {
  ask<R>(
    target: ActorId,
    message: { readonly type: string; readonly [field: string]: unknown },
    options?: { timeoutMs?: number },
  ): Promise<R>;
}

export interface OutboxRelayOptions {
  readonly outbox: AlertOutbox;
  readonly actors: Asker;
  readonly logger: Logger;
  /** Rows claimed per round. Default 500. */
  readonly batch?: number;
  /** Claim lease; longer than a round can take. Default 30 s. */
  readonly leaseMs?: number;
  /** Sleep when the outbox is empty (wake() cuts it short). Default 250 ms. */
  readonly idleMs?: number;
  readonly askTimeoutMs?: number;
}

/**
 * Moves alert events from the outbox to escalation actors (docs/escalation.md, decision 1).
 * Events of one alert are handed over in id order; different alerts in parallel. A row is
 * marked consumed only after its actor answered; a failed hand-over is retried when the lease
 * runs out.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private again = false;
  relayed = 0;
  failed = 0;

  constructor(private readonly options: OutboxRelayOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  /** Something was just written to the outbox: look now instead of after the idle sleep. */
  wake(): void {
    const s = this.sleeper;
    if (s === undefined) {
      // A round is running: it may have claimed before this row was committed; go again at once.
      this.again = true;
      return;
    }
    this.sleeper = undefined;
    clearTimeout(s.timer);
    s.resolve();
  }

  /** One round; returns how many rows were claimed. */
  async runOnce(): Promise<number> {
    const { outbox, actors } = this.options;
    const entries = await outbox.claim(this.options.batch ?? 500, this.options.leaseMs ?? 30_000);
    if (entries.length === 0) return 0;
    const byAlert = new Map<string, OutboxEntry[]>();
    for (const e of entries) {
      const list = byAlert.get(e.alertId);
      if (list === undefined) byAlert.set(e.alertId, [e]);
      else list.push(e);
    }
    const done: string[] = [];
    await Promise.all(
      [...byAlert.values()].map(async (list) => {
        for (const e of list) {
          try {
            await actors.ask(
              escalationActorId(e.tenantId, e.alertId),
              { type: 'alertEvent', event: e.event, alert: e.alert },
              { timeoutMs: this.options.askTimeoutMs ?? 10_000 },
            );
            done.push(e.id);
            this.relayed++;
          } catch (err) {
            // Later events of this alert wait for the lease too, keeping the order.
            this.failed++;
            this.options.logger.warn(
              { alert: e.alertId, event: e.event.type, err: String(err) },
              'alert event not handed to escalation; retried after the lease',
            );
            return;
          }
        }
      }),
    );
    await outbox.consume(done);
    return entries.length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.runOnce();
      } catch (err) {
        this.options.logger.warn({ err: String(err) }, 'outbox relay round failed');
      }
      if (!this.running) break;
      if (this.again) {
        this.again = false;
        continue;
      }
      if (claimed < (this.options.batch ?? 500)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.sleeper = undefined;
            resolve();
          }, this.options.idleMs ?? 250);
          timer.unref();
          this.sleeper = { timer, resolve };
        });
      }
    }
  }
}
