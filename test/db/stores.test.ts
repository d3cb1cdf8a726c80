import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStateStore } from '../../db/stores/actor-state.ts';
import { PostgresDeadLetterSink } from '../../db/stores/dead-letters.ts';
import { PostgresReminderStore } from '../../db/stores/reminders.ts';
import type { DeadLetter } from '../../runtime/dead-letters.ts';
import { StaleEpochError, VersionConflictError } from '../../runtime/errors.ts';
import { BACKENDS, createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

// The same suite runs against real PostgreSQL and against the embedded PGlite server.
// Every test works on identities of its own, so tests do not see each other's rows.
const uid = (kind = 'test'): string => `${kind}/${randomUUID()}`;

describe.each(BACKENDS)('stores on %s', (backend) => {
  let db: MigratedTestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createMigratedTestDatabase(backend);
    pool = db.pool;
  });
  afterAll(() => db.drop());

  describe('PostgresStateStore', () => {
    const store = () => new PostgresStateStore(pool);

    it('claim of a new identity answers undefined and records the epoch; save then load', async () => {
      const s = store();
      const id = uid();
      expect(await s.claim(id, 3)).toBeUndefined();
      expect(await s.peek(id)).toEqual({ state: undefined, epoch: 3, version: 0 });
      const state = { count: 2, nested: { list: [1, 'two', true, null] }, text: 'é ✓ 🚀' };
      expect(await s.save(id, state, { epoch: 3, expectedVersion: 0 })).toBe(1);
      expect(await s.save(id, { ...state, count: 3 }, { epoch: 3, expectedVersion: 1 })).toBe(2);
      expect(await s.claim(id, 4)).toEqual({ state: { ...state, count: 3 }, epoch: 4, version: 2 });
    });

    it('stores any JSON value, and save without a claim works', async () => {
      const s = store();
      for (const value of ['a string', 42, null, [1, 2], { a: { b: {} } }, false]) {
        const id = uid();
        await s.save(id, value, { epoch: 1, expectedVersion: 0 });
        expect(await s.claim(id, 1)).toEqual({ state: value, epoch: 1, version: 1 });
      }
    });

    it('claim with a lower epoch than stored fails', async () => {
      const s = store();
      const id = uid();
      await s.claim(id, 5);
      const err = await Promise.resolve(s.claim(id, 4)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StaleEpochError);
      expect(err).toMatchObject({ actor: id, epoch: 4, storedEpoch: 5 });
      // The same epoch may claim again (re-activation on the same owner).
      expect(await s.claim(id, 5)).toBeUndefined();
    });

    it('save with a stale epoch fails and leaves the state alone', async () => {
      const s = store();
      const id = uid();
      await s.claim(id, 2);
      await s.save(id, { v: 'new owner' }, { epoch: 2, expectedVersion: 0 });
      await expect(
        s.save(id, { v: 'old' }, { epoch: 1, expectedVersion: 1 }),
      ).rejects.toMatchObject({
        name: 'StaleEpochError',
        epoch: 1,
        storedEpoch: 2,
      });
      expect(await s.peek(id)).toEqual({ state: { v: 'new owner' }, epoch: 2, version: 1 });
    });

    it('save with the wrong expected version is a version conflict', async () => {
      const s = store();
      const id = uid();
      await s.claim(id, 1);
      await s.save(id, { n: 1 }, { epoch: 1, expectedVersion: 0 });
      const err = await Promise.resolve(
        s.save(id, { n: 2 }, { epoch: 1, expectedVersion: 0 }),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VersionConflictError);
      expect(err).toMatchObject({ expectedVersion: 0, storedVersion: 1 });
      await expect(s.save(id, { n: 2 }, { epoch: 1, expectedVersion: 7 })).rejects.toMatchObject({
        name: 'VersionConflictError',
        storedVersion: 1,
      });
      await expect(s.save(uid(), { n: 2 }, { epoch: 1, expectedVersion: 3 })).rejects.toMatchObject(
        {
          name: 'VersionConflictError',
          storedVersion: 0,
        },
      );
    });

    it('after a higher epoch claims, the old owner can neither save nor delete', async () => {
      const s = store();
      const id = uid();
      await s.claim(id, 7);
      const v1 = await s.save(id, { owner: 'A' }, { epoch: 7, expectedVersion: 0 });
      // Rebalance: node B claims with epoch 8 and sees A's state.
      expect(await s.claim(id, 8)).toEqual({ state: { owner: 'A' }, epoch: 8, version: v1 });
      // Node A, not yet aware, tries to save on top of the version it knows.
      await expect(
        s.save(id, { owner: 'A again' }, { epoch: 7, expectedVersion: v1 }),
      ).rejects.toBeInstanceOf(StaleEpochError);
      await expect(s.delete(id, { epoch: 7, expectedVersion: v1 })).rejects.toBeInstanceOf(
        StaleEpochError,
      );
      // B continues from the version it loaded.
      expect(await s.save(id, { owner: 'B' }, { epoch: 8, expectedVersion: v1 })).toBe(v1 + 1);
      expect(await s.peek(id)).toEqual({ state: { owner: 'B' }, epoch: 8, version: v1 + 1 });
    });

    it('concurrent saves on one version: exactly one wins', async () => {
      const s = store();
      const id = uid();
      await s.claim(id, 1);
      await s.save(id, { n: 0 }, { epoch: 1, expectedVersion: 0 });
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((n) => s.save(id, { n }, { epoch: 1, expectedVersion: 1 })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
      }
      expect((await s.peek(id))?.version).toBe(2);
    });

    it('delete leaves a fenced tombstone: a stale owner cannot write the identity back', async () => {
      const s = store();
      const id = uid();
      await s.claim(id, 1);
      await s.save(id, { x: 1 }, { epoch: 1, expectedVersion: 0 });
      await s.claim(id, 2);
      await s.delete(id, { epoch: 2, expectedVersion: 1 });
      expect(await s.claim(id, 2)).toBeUndefined();
      await expect(
        s.save(id, { x: 'zombie' }, { epoch: 1, expectedVersion: 0 }),
      ).rejects.toBeInstanceOf(StaleEpochError);
      // The current owner starts over from version 0.
      expect(await s.save(id, { x: 2 }, { epoch: 2, expectedVersion: 0 })).toBe(1);
      // Deleting what does not exist is a no-op.
      await s.delete(uid(), { epoch: 1, expectedVersion: 0 });
    });

    it('refuses state JSON cannot hold', async () => {
      const s = store();
      await expect(s.save(uid(), { big: 1n }, { epoch: 1, expectedVersion: 0 })).rejects.toThrow(
        TypeError,
      );
    });
  });

  describe('PostgresReminderStore', () => {
    const store = () => new PostgresReminderStore(pool);
    const T = 1_900_000_000_123; // a fixed time in 2030, with milliseconds

    it('upsert, list and due keep millisecond times, period and data exactly', async () => {
      const r = store();
      const actor = uid('rule');
      await r.upsert({ actor, name: 'tick', dueAt: T, periodMs: 60_000, data: { level: 2 } });
      await r.upsert({ actor, name: 'once', dueAt: T + 1 });
      expect(await r.list(actor)).toEqual([
        { actor, name: 'tick', dueAt: T, periodMs: 60_000, data: { level: 2 } },
        { actor, name: 'once', dueAt: T + 1 },
      ]);
      const due = (await r.due(T, 10_000)).filter((x) => x.actor === actor);
      expect(due.map((x) => x.name)).toEqual(['tick']);
      const both = (await r.due(T + 1, 10_000)).filter((x) => x.actor === actor);
      expect(both.map((x) => x.name)).toEqual(['tick', 'once']);
      // Re-registering replaces.
      await r.upsert({ actor, name: 'tick', dueAt: T + 5 });
      expect(await r.list(actor)).toEqual([
        { actor, name: 'once', dueAt: T + 1 },
        { actor, name: 'tick', dueAt: T + 5 },
      ]);
      await r.remove(actor, 'once');
      expect((await r.list(actor)).map((x) => x.name)).toEqual(['tick']);
    });

    it('due answers earliest first, at most limit', async () => {
      const r = store();
      const actor = uid('rule');
      // Far in the past, so these are the earliest rows in the table whatever else is there.
      const base = -1_000_000_000_000 - Math.floor(Math.random() * 1e9);
      for (const offset of [30, 10, 20]) {
        await r.upsert({ actor, name: `r${offset}`, dueAt: base + offset });
      }
      const due = await r.due(base + 25, 2);
      expect(due.map((x) => [x.name, x.dueAt])).toEqual([
        ['r10', base + 10],
        ['r20', base + 20],
      ]);
      expect(await r.due(base + 25, 0)).toEqual([]);
    });

    it('complete removes a one-shot reminder and advances a periodic one', async () => {
      const r = store();
      const actor = uid('escalation');
      await r.upsert({ actor, name: 'once', dueAt: T });
      await r.upsert({ actor, name: 'every', dueAt: T, periodMs: 1000, data: 'keep' });
      await r.complete(actor, 'once', T, undefined);
      await r.complete(actor, 'every', T, T + 1000);
      expect(await r.list(actor)).toEqual([
        { actor, name: 'every', dueAt: T + 1000, periodMs: 1000, data: 'keep' },
      ]);
    });

    it('a stale complete does not overwrite a reminder replaced during the turn', async () => {
      const r = store();
      const actor = uid('escalation');
      await r.upsert({ actor, name: 'step', dueAt: T, periodMs: 1000 });
      // While handling the firing at T, the actor re-registers the reminder for T + 50.
      await r.upsert({ actor, name: 'step', dueAt: T + 50, periodMs: 5000 });
      await r.complete(actor, 'step', T, T + 1000);
      expect(await r.list(actor)).toEqual([{ actor, name: 'step', dueAt: T + 50, periodMs: 5000 }]);
      await r.complete(actor, 'step', T, undefined);
      expect(await r.list(actor)).toHaveLength(1);
    });
  });

  describe('PostgresDeadLetterSink', () => {
    const sink = () => new PostgresDeadLetterSink(pool);
    const letter = (actor: string, at: number, extra: Partial<DeadLetter> = {}): DeadLetter => ({
      actor,
      messageType: 'reading',
      message: { type: 'reading', value: at },
      attempts: 3,
      error: 'boom',
      reason: 'handler-failed',
      at,
      ...extra,
    });

    it('lists newest first, with limit and actor filter', async () => {
      const s = sink();
      const [a, b] = [uid('device'), uid('device')];
      // Far-future times make these the newest letters in the table.
      const base = 4_000_000_000_000 + Math.floor(Math.random() * 1e9);
      await s.add(letter(a, base + 1));
      await s.add(letter(b, base + 2));
      await s.add(letter(a, base + 3));
      await s.add(letter(a, base + 3, { messageType: 'same-ms-later' }));
      const newest = await s.list({ limit: 3 });
      expect(newest.map((l) => [l.actor, l.at, l.messageType])).toEqual([
        [a, base + 3, 'same-ms-later'],
        [a, base + 3, 'reading'],
        [b, base + 2, 'reading'],
      ]);
      const onlyA = await s.list({ actor: a });
      expect(onlyA.map((l) => l.at)).toEqual([base + 3, base + 3, base + 1]);
      expect(onlyA[2]).toEqual(letter(a, base + 1));
      expect(await s.list({ actor: a, limit: 1 })).toHaveLength(1);
      expect(await s.list({ actor: uid('nobody') })).toEqual([]);
    });

    it('stores a message JSON cannot hold as its string form, and text PostgreSQL refuses cleaned', async () => {
      const s = sink();
      const actor = uid('device');
      const cyclic: Record<string, unknown> = { type: 'loop', n: 1n };
      cyclic.self = cyclic;
      await s.add(letter(actor, 1, { message: cyclic }));
      await s.add(
        letter(actor, 2, { message: { text: 'nul\u0000 and lone \ud800' }, error: 'bad\u0000' }),
      );
      await s.add(letter(actor, 3, { message: undefined, reason: 'shutdown' }));
      const [none, cleaned, stringForm] = await s.list({ actor });
      expect(none).toMatchObject({ message: undefined, reason: 'shutdown' });
      expect(cleaned).toMatchObject({
        message: { text: 'nul\uFFFD and lone \uFFFD' },
        error: 'bad\uFFFD',
      });
      expect(typeof stringForm!.message).toBe('string');
      expect(stringForm!.message).toContain("type: 'loop'");
      expect(stringForm!.message).toContain('[Circular');
    });
  });
});
