import type { ActorId } from './identity.ts';
import type { MaybePromise } from './maybe-promise.ts';

/** A durable reminder: wakes `actor` at `dueAt` (ms since epoch), then every `periodMs` if set. */
export interface Reminder {
  readonly actor: ActorId;
  readonly name: string;
  readonly dueAt: number;
  /** Repeat period; undefined for a one-shot reminder. */
  readonly periodMs?: number | undefined;
  /** Small JSON payload handed back to the actor when the reminder fires. */
  readonly data?: unknown;
}

/**
 * Where reminders live. The PostgreSQL implementation lives in db/; the runtime ships a memory
 * one for tests and the single-process default.
 */
export interface ReminderStore {
  /** Creates or replaces the reminder (actor, name). */
  upsert(reminder: Reminder): MaybePromise<void>;
  remove(actor: ActorId, name: string): MaybePromise<void>;
  /** Reminders due at or before `until`, earliest first, at most `limit`. */
  due(until: number, limit: number): MaybePromise<readonly Reminder[]>;
  /**
   * Records that the firing planned for `firedDueAt` was handled: a one-shot reminder is removed,
   * a periodic one moves to `nextDueAt`. Does nothing if the reminder was replaced meanwhile
   * (its dueAt differs from `firedDueAt`), so a re-registration during the turn wins.
   */
  complete(
    actor: ActorId,
    name: string,
    firedDueAt: number,
    nextDueAt: number | undefined,
  ): MaybePromise<void>;
  list(actor: ActorId): MaybePromise<readonly Reminder[]>;
}

export class MemoryReminderStore implements ReminderStore {
  private readonly rows = new Map<string, Reminder>();

  private static key(actor: ActorId, name: string): string {
    return `${actor}\u0000${name}`;
  }

  upsert(reminder: Reminder): void {
    this.rows.set(MemoryReminderStore.key(reminder.actor, reminder.name), { ...reminder });
  }

  remove(actor: ActorId, name: string): void {
    this.rows.delete(MemoryReminderStore.key(actor, name));
  }

  due(until: number, limit: number): Reminder[] {
    const out: Reminder[] = [];
    for (const r of this.rows.values()) if (r.dueAt <= until) out.push(r);
    out.sort((a, b) => a.dueAt - b.dueAt);
    return out.slice(0, limit);
  }

  complete(actor: ActorId, name: string, firedDueAt: number, nextDueAt: number | undefined): void {
    const key = MemoryReminderStore.key(actor, name);
    const row = this.rows.get(key);
    if (row === undefined || row.dueAt !== firedDueAt) return;
    if (nextDueAt === undefined) this.rows.delete(key);
    else this.rows.set(key, { ...row, dueAt: nextDueAt });
  }

  list(actor: ActorId): Reminder[] {
    return [...this.rows.values()].filter((r) => r.actor === actor);
  }
}
