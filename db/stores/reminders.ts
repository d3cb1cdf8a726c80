import type { Pool } from 'pg';
import type { ActorId } from '../../runtime/identity.ts';
import type { Reminder, ReminderStore } from '../../runtime/reminder-store.ts';
import { fromJsonText, toJsonText } from './json.ts';

interface Row {
  actor: string;
  name: string;
  due_ms: string;
  period_ms: string | null;
  data: string | null;
}

// Milliseconds <-> timestamptz, exact in both directions (no float seconds on the way).
const AT = `(timestamptz 'epoch' + $MS::bigint * interval '1 millisecond')`;
const at = (param: number): string => AT.replace('$MS', `$${param}`);
const COLUMNS = `actor, name, (extract(epoch FROM due_at) * 1000)::bigint::text AS due_ms,
  period_ms::text AS period_ms, data::text AS data`;

/**
 * ReminderStore on the reminders table: milliseconds at the interface, timestamptz in the table.
 * Times are whole milliseconds: fractional inputs are truncated, consistently in upsert and
 * complete, so a firing read from due() always matches its row.
 *
 * complete() is one conditional statement (WHERE due_at = the fired time), so a reminder that
 * was replaced while its firing was being handled is left alone.
 */
export class PostgresReminderStore implements ReminderStore {
  constructor(private readonly pool: Pool) {}

  async upsert(reminder: Reminder): Promise<void> {
    const period = reminder.periodMs;
    if (period !== undefined && !(period > 0)) {
      throw new RangeError(`reminder period must be > 0 ms, got ${period}`);
    }
    await this.pool.query(
      `INSERT INTO reminders AS r (actor, name, due_at, period_ms, data)
       VALUES ($1, $2, ${at(3)}, $4, $5::jsonb)
       ON CONFLICT (actor, name) DO UPDATE
         SET due_at = excluded.due_at, period_ms = excluded.period_ms, data = excluded.data,
             updated_at = now()`,
      [
        reminder.actor,
        reminder.name,
        ms(reminder.dueAt),
        period === undefined ? null : Math.max(1, Math.trunc(period)),
        toJsonText(reminder.data),
      ],
    );
  }

  async remove(actor: ActorId, name: string): Promise<void> {
    await this.pool.query('DELETE FROM reminders WHERE actor = $1 AND name = $2', [actor, name]);
  }

  async due(until: number, limit: number): Promise<readonly Reminder[]> {
    if (limit <= 0) return [];
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM reminders WHERE due_at <= ${at(1)}
        ORDER BY due_at, actor, name LIMIT $2`,
      [ms(until), Math.trunc(limit)],
    );
    return rows.map(toReminder);
  }

  async complete(
    actor: ActorId,
    name: string,
    firedDueAt: number,
    nextDueAt: number | undefined,
  ): Promise<void> {
    if (nextDueAt === undefined) {
      await this.pool.query(
        `DELETE FROM reminders WHERE actor = $1 AND name = $2 AND due_at = ${at(3)}`,
        [actor, name, ms(firedDueAt)],
      );
    } else {
      await this.pool.query(
        `UPDATE reminders SET due_at = ${at(4)}, updated_at = now()
          WHERE actor = $1 AND name = $2 AND due_at = ${at(3)}`,
        [actor, name, ms(firedDueAt), ms(nextDueAt)],
      );
    }
  }

  async list(actor: ActorId): Promise<readonly Reminder[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM reminders WHERE actor = $1 ORDER BY due_at, name`,
      [actor],
    );
    return rows.map(toReminder);
  }
}

function ms(value: number): number {
  if (!Number.isFinite(value)) throw new RangeError(`reminder time must be finite, got ${value}`);
  return Math.trunc(value);
}

function toReminder(row: Row): Reminder {
  const reminder: {
    actor: string;
    name: string;
    dueAt: number;
    periodMs?: number;
    data?: unknown;
  } = { actor: row.actor, name: row.name, dueAt: Number(row.due_ms) };
  if (row.period_ms !== null) reminder.periodMs = Number(row.period_ms);
  if (row.data !== null) reminder.data = fromJsonText(row.data);
  return reminder;
}
