import type { ReminderFired, ReminderOptions } from './definition.ts';
import { DeadLetteredError, UnknownMessageError } from './errors.ts';
import type { ActorId } from './identity.ts';
import type { Logger } from './logger.ts';
import type { Reminder, ReminderStore } from './reminder-store.ts';

export interface ReminderServiceOptions {
  /** How often the store is read for reminders due soon. */
  readonly pollIntervalMs: number;
  /** True when this node hosts the identity (always, on one node; placement, in a cluster). */
  readonly isLocal: (actor: ActorId) => boolean;
  readonly logger: Logger;
}

/**
 * Fires durable reminders. The store is the truth; this service reads the reminders due within
 * the next poll interval and arms a precise timer for each that this node hosts. A firing is
 * delivered to the actor as a turn, and only once that turn succeeds is the reminder advanced
 * (periodic) or removed (one-shot): a crash between the two fires it again on the next owner
 * (at-least-once).
 */
export class ReminderService {
  private readonly armed = new Map<string, { timer: NodeJS.Timeout; dueAt: number }>();
  private readonly inflight = new Set<string>();
  /** Reminders set again by the turn that their own firing is running. */
  private readonly resetWhileFiring = new Map<string, Reminder>();
  private poller: NodeJS.Timeout | undefined;
  private stopped = false;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly store: ReminderStore,
    private readonly deliver: (actor: ActorId, fired: ReminderFired) => Promise<void>,
    private readonly options: ReminderServiceOptions,
  ) {}

  start(): void {
    this.stopped = false;
    void this.poll();
    this.poller = setInterval(() => void this.poll(), this.options.pollIntervalMs);
    this.poller.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
    for (const { timer } of this.armed.values()) clearTimeout(timer);
    this.armed.clear();
    await this.polling;
  }

  async set(actor: ActorId, name: string, options: ReminderOptions): Promise<void> {
    const dueAt = resolveDueAt(options);
    if (options.periodMs !== undefined && !(options.periodMs > 0)) {
      throw new RangeError(`reminder '${name}' of ${actor}: periodMs must be > 0`);
    }
    const reminder: Reminder = {
      actor,
      name,
      dueAt,
      periodMs: options.periodMs,
      data: options.data,
    };
    await this.store.upsert(reminder);
    this.disarm(actor, name);
    const k = keyOf(actor, name);
    if (this.inflight.has(k)) {
      // Set again by the turn it is firing (a "next step" reminder): that turn's completion
      // must neither delete nor advance it, and it is armed once the firing is over.
      this.resetWhileFiring.set(k, reminder);
      return;
    }
    if (dueAt - Date.now() <= this.options.pollIntervalMs && this.options.isLocal(actor)) {
      this.arm(reminder);
    }
  }

  async clear(actor: ActorId, name: string): Promise<void> {
    await this.store.remove(actor, name);
    this.disarm(actor, name);
    this.resetWhileFiring.delete(keyOf(actor, name));
  }

  /** Reads what is due soon and arms it; exposed so tests and the cluster can poll at once. */
  poll(): Promise<void> {
    this.polling ??= this.readDue().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async readDue(): Promise<void> {
    if (this.stopped) return;
    try {
      const due = await this.store.due(Date.now() + this.options.pollIntervalMs, 10_000);
      for (const r of due) if (this.options.isLocal(r.actor)) this.arm(r);
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, 'reading due reminders failed; will retry');
    }
  }

  private arm(r: Reminder): void {
    if (this.stopped) return;
    const k = keyOf(r.actor, r.name);
    if (this.inflight.has(k)) return;
    const existing = this.armed.get(k);
    if (existing !== undefined) {
      if (existing.dueAt === r.dueAt) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => this.fire(r, k), Math.max(0, r.dueAt - Date.now()));
    this.armed.set(k, { timer, dueAt: r.dueAt });
  }

  private disarm(actor: ActorId, name: string): void {
    const k = keyOf(actor, name);
    const existing = this.armed.get(k);
    if (existing === undefined) return;
    clearTimeout(existing.timer);
    this.armed.delete(k);
  }

  private async fire(r: Reminder, k: string): Promise<void> {
    this.armed.delete(k);
    if (this.stopped || !this.options.isLocal(r.actor)) return;
    this.inflight.add(k);
    try {
      let handled = true;
      try {
        await this.deliver(r.actor, {
          name: r.name,
          dueAt: r.dueAt,
          periodMs: r.periodMs,
          data: r.data,
        });
      } catch (err) {
        // A message that was dead-lettered is visible to operators; advancing avoids a hot loop.
        // Anything else (timeout, shutdown, activation failure) leaves it due for a retry.
        handled = err instanceof DeadLetteredError || err instanceof UnknownMessageError;
        this.options.logger.warn(
          { actor: r.actor, reminder: r.name, err: String(err), retry: !handled },
          'reminder delivery failed',
        );
      }
      const reset = this.resetWhileFiring.get(k);
      this.resetWhileFiring.delete(k);
      if (reset !== undefined) {
        // The handler scheduled its next firing: the store already holds it, keep it.
        this.inflight.delete(k);
        if (reset.dueAt - Date.now() <= this.options.pollIntervalMs) this.arm(reset);
        return;
      }
      if (handled) await this.store.complete(r.actor, r.name, r.dueAt, nextDueAt(r, Date.now()));
    } catch (err) {
      this.options.logger.warn(
        { actor: r.actor, reminder: r.name, err: String(err) },
        'reminder store update failed',
      );
    } finally {
      this.inflight.delete(k);
    }
  }
}

function keyOf(actor: ActorId, name: string): string {
  return `${actor}\u0000${name}`;
}

function resolveDueAt(options: ReminderOptions): number {
  if (options.at !== undefined) {
    return options.at instanceof Date ? options.at.getTime() : options.at;
  }
  if (options.dueInMs !== undefined) return Date.now() + Math.max(0, options.dueInMs);
  throw new RangeError('a reminder needs dueInMs or at');
}

/** Next firing of a periodic reminder: the first period boundary after now (missed ones coalesce). */
export function nextDueAt(r: Reminder, now: number): number | undefined {
  if (r.periodMs === undefined) return undefined;
  const periods = Math.max(1, Math.ceil((now - r.dueAt + 1) / r.periodMs));
  return r.dueAt + periods * r.periodMs;
}
