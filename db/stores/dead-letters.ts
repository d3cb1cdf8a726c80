import type { Pool } from 'pg';
import type { DeadLetter, DeadLetterReason, DeadLetterSink } from '../../runtime/dead-letters.ts';
import type { ActorId } from '../../runtime/identity.ts';
import { fromJsonText, sanitizeText, toJsonTextLenient } from './json.ts';

interface Row {
  actor: string;
  message_type: string;
  message: string | null;
  attempts: number;
  error: string;
  reason: string;
  failed_ms: string;
}

const MAX_LIMIT = 10_000;

/**
 * DeadLetterSink on the dead_letters table. add() never fails because of the letter's content:
 * the message is stored as JSONB when it can be, else as a JSON string of its util.inspect form;
 * text is cleaned of what PostgreSQL refuses (U+0000, lone surrogates). It can still fail when
 * the database is unreachable; the runtime should log that rather than lose the letter silently.
 *
 * list() is newest first by failure time (ties: insertion order), default limit 100 as in the
 * memory sink.
 */
export class PostgresDeadLetterSink implements DeadLetterSink {
  constructor(private readonly pool: Pool) {}

  async add(letter: DeadLetter): Promise<void> {
    const at = Number.isFinite(letter.at) ? Math.trunc(letter.at) : Date.now();
    await this.pool.query(
      `INSERT INTO dead_letters (actor, message_type, message, attempts, error, reason, failed_at)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6,
               timestamptz 'epoch' + $7::bigint * interval '1 millisecond')`,
      [
        sanitizeText(letter.actor),
        sanitizeText(letter.messageType),
        toJsonTextLenient(letter.message),
        Number.isSafeInteger(letter.attempts) ? Math.min(letter.attempts, 2 ** 31 - 1) : 0,
        sanitizeText(letter.error),
        sanitizeText(letter.reason),
        at,
      ],
    );
  }

  async list(options: { limit?: number; actor?: ActorId } = {}): Promise<readonly DeadLetter[]> {
    const limit = Math.max(0, Math.min(MAX_LIMIT, Math.trunc(options.limit ?? 100)));
    if (limit === 0) return [];
    const columns = `actor, message_type, message::text AS message, attempts, error, reason,
      (extract(epoch FROM failed_at) * 1000)::bigint::text AS failed_ms`;
    const { rows } =
      options.actor === undefined
        ? await this.pool.query<Row>(
            `SELECT ${columns} FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT $1`,
            [limit],
          )
        : await this.pool.query<Row>(
            `SELECT ${columns} FROM dead_letters WHERE actor = $2
              ORDER BY failed_at DESC, id DESC LIMIT $1`,
            [limit, options.actor],
          );
    return rows.map((row) => ({
      actor: row.actor,
      messageType: row.message_type,
      message: fromJsonText(row.message),
      attempts: row.attempts,
      error: row.error,
      // Stored as written by the runtime; the column is unconstrained so a new reason is kept.
      reason: row.reason as DeadLetterReason,
      at: Number(row.failed_ms),
    }));
  }

  /** Deletes letters that failed more than `olderThanMs` ago; returns how many. */
  async prune(olderThanMs: number): Promise<number> {
    const res = await this.pool.query(
      `DELETE FROM dead_letters WHERE failed_at < now() - $1::bigint * interval '1 millisecond'`,
      [Math.trunc(olderThanMs)],
    );
    return res.rowCount ?? 0;
  }
}
