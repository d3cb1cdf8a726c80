import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStateStore } from '../../db/index.ts';
import { StaleEpochError, VersionConflictError } from '../../runtime/index.ts';
import { createMigratedTestDatabase } from './helpers.ts';

let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
beforeAll(async () => {
  db = await createMigratedTestDatabase('postgres');
});
afterAll(async () => {
  await db.drop();
});

describe('PostgresStateStore batching (many claims and saves in one tick)', () => {
  it('claims and saves a thousand identities at once', async () => {
    const store = new PostgresStateStore(db.pool);
    const ids = Array.from({ length: 1_000 }, (_, i) => `batch/a${i}`);
    expect(await Promise.all(ids.map((id) => store.claim(id, 5)))).toEqual(
      ids.map(() => undefined),
    );
    const first = await Promise.all(
      ids.map((id, i) => store.save(id, { i }, { epoch: 5, expectedVersion: 0 })),
    );
    expect(first).toEqual(ids.map(() => 1));
    const second = await Promise.all(
      ids.map((id, i) => store.save(id, { i: i + 1 }, { epoch: 5, expectedVersion: 1 })),
    );
    expect(second).toEqual(ids.map(() => 2));
    const claimed = await Promise.all(ids.map((id) => store.claim(id, 6)));
    expect(claimed[7]).toEqual({ state: { i: 8 }, epoch: 6, version: 2 });
  });

  it('settles the refused members of a batch with the precise error', async () => {
    const store = new PostgresStateStore(db.pool);
    await store.claim('batch/b0', 1);
    await store.save('batch/b0', { n: 0 }, { epoch: 1, expectedVersion: 0 });
    await store.claim('batch/b1', 1);
    await store.save('batch/b1', { n: 0 }, { epoch: 1, expectedVersion: 0 });
    await store.claim('batch/b1', 9); // a newer owner fences b1
    const results = await Promise.allSettled([
      store.save('batch/b0', { n: 1 }, { epoch: 1, expectedVersion: 1 }),
      store.save('batch/b1', { n: 1 }, { epoch: 1, expectedVersion: 1 }),
      store.save('batch/b0', { n: 2 }, { epoch: 1, expectedVersion: 1 }), // duplicate in the batch
      store.claim('batch/b1', 3),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 2 });
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(StaleEpochError);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(VersionConflictError);
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(StaleEpochError);
  });
});
