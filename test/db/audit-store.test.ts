import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  AuditEntryError,
  AuditLog,
  AuditWriteError,
  applyAuditRetention,
  csvHeader,
  csvLine,
  ERASURE_ACTION,
  exportAudit,
  GLOBAL_CHAIN,
  inTransaction,
  jsonLine,
  lockChainHead,
  personalMatcher,
  pseudonymiseAuditRecords,
  recordAudit,
  recordAuditInTransaction,
  scheduleAuditRetention,
  searchAudit,
  setAuditRetention,
  verifyAuditChain,
} from '../../db/audit/index.ts';
import { createPool } from '../../db/pool.ts';
import { BACKENDS, createMigratedTestDatabase, type MigratedTestDatabase } from './helpers.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

function entry(tenantId: string, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    tenantId,
    at: T0,
    actor: { kind: 'user', id: '1', display: 'alice@example.com' },
    action: 'device.update',
    resourceType: 'device',
    resourceId: '7',
    before: { name: 'pump' },
    after: { name: 'pump 2' },
    requestId: 'req-1',
    ip: '127.0.0.1',
    userAgent: 'vitest',
    result: { status: 200, outcome: 'ok' },
    ...overrides,
  };
}

async function withTamperingAllowed<T>(db: MigratedTestDatabase, fn: () => Promise<T>): Promise<T> {
  await db.pool.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable');
  try {
    return await fn();
  } finally {
    await db.pool.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_immutable');
  }
}

let tenantCounter = 0;
async function newTenant(db: MigratedTestDatabase): Promise<string> {
  const id = `t${++tenantCounter}`;
  await db.pool.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [id]);
  return id;
}

describe.each(BACKENDS)('audit chain on %s', (backend) => {
  let db: MigratedTestDatabase;
  beforeAll(async () => {
    db = await createMigratedTestDatabase(backend);
  });
  afterAll(() => db.drop());

  it('appends records in order, one chain per tenant, and verifies them', async () => {
    const [a, b] = [await newTenant(db), await newTenant(db)];
    const log = new AuditLog(db.pool);
    const first = await log.append(entry(a));
    const second = await log.append(entry(a, { action: 'device.delete' }));
    const other = await log.append(entry(b));
    expect([first.seq, second.seq, other.seq]).toEqual([1, 2, 1]);
    const result = await verifyAuditChain(db.pool, a);
    expect(result).toMatchObject({ ok: true, records: 2, firstSeq: 1, lastSeq: 2, broken: null });
    expect(result.head).toEqual({ seq: 2, hash: second.hash });
    expect((await verifyAuditChain(db.pool, b)).ok).toBe(true);
  });

  it('keeps one unforked chain under concurrent writers', async () => {
    const [a, b] = [await newTenant(db), await newTenant(db)];
    const logs = [new AuditLog(db.pool), new AuditLog(db.pool)];
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      const tenant = i % 3 === 0 ? b : a;
      writes.push(logs[i % 2]!.append(entry(tenant, { resourceId: String(i) })));
      if (i % 10 === 0) writes.push(recordAudit(db.pool, entry(tenant, { action: 'cli.change' })));
    }
    await Promise.all(writes);
    for (const tenant of [a, b]) {
      const { rows } = await db.pool.query<{ seqs: string[] }>(
        'SELECT array_agg(seq::text ORDER BY seq) AS seqs FROM audit_log WHERE tenant_id = $1',
        [tenant],
      );
      const seqs = rows[0]!.seqs.map(Number);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect((await verifyAuditChain(db.pool, tenant)).ok).toBe(true);
    }
  });

  it('detects an altered record, altered personal fields and missing records', async () => {
    const tenant = await newTenant(db);
    for (let i = 0; i < 5; i++) await recordAudit(db.pool, entry(tenant, { resourceId: `${i}` }));
    await expect(
      db.pool.query(`UPDATE audit_log SET action = 'x' WHERE tenant_id = $1 AND seq = 2`, [tenant]),
    ).rejects.toThrow(/append-only/);

    await withTamperingAllowed(db, () =>
      db.pool.query(
        `UPDATE audit_log SET action = 'device.read' WHERE tenant_id = $1 AND seq = 3`,
        [tenant],
      ),
    );
    let result = await verifyAuditChain(db.pool, tenant);
    expect(result.ok).toBe(false);
    expect(result.broken).toEqual({ seq: 3, reason: expect.stringMatching(/record altered/) });

    await withTamperingAllowed(db, () =>
      db.pool.query(
        `UPDATE audit_log SET action = 'device.update',
                diff = jsonb_set(diff, '{after,name}', '"forged"')
          WHERE tenant_id = $1 AND seq = 3`,
        [tenant],
      ),
    );
    result = await verifyAuditChain(db.pool, tenant);
    expect(result.broken).toEqual({ seq: 3, reason: expect.stringMatching(/personal fields/) });

    await db.pool.query('DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 3', [tenant]);
    result = await verifyAuditChain(db.pool, tenant);
    expect(result.broken).toEqual({ seq: 3, reason: 'record 3 is missing' });
  });

  it('detects records deleted at the end of the chain', async () => {
    const tenant = await newTenant(db);
    for (let i = 0; i < 3; i++) await recordAudit(db.pool, entry(tenant));
    await db.pool.query('DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 3', [tenant]);
    const result = await verifyAuditChain(db.pool, tenant);
    expect(result.broken).toEqual({ seq: 3, reason: expect.stringMatching(/missing at the end/) });
  });

  it('applies retention to a prefix and the chain still verifies from its anchor', async () => {
    const tenant = await newTenant(db);
    const ats = [T0 - 40 * DAY, T0 - 35 * DAY, T0 - 31 * DAY, T0 - 5 * DAY, T0 - 32 * DAY, T0];
    for (const at of ats) await recordAudit(db.pool, entry(tenant, { at }));
    expect(await setAuditRetention(db.pool, tenant, 30)).toBe(true);
    const [result] = await applyAuditRetention(db.pool, { now: T0, tenantId: tenant });
    // Record 5 is older than the cutoff but follows a newer one: only the prefix 1-3 goes.
    expect(result).toMatchObject({ tenantId: tenant, deleted: 3, anchor: { seq: 3 } });
    const verified = await verifyAuditChain(db.pool, tenant);
    expect(verified).toMatchObject({ ok: true, firstSeq: 4, lastSeq: 7, anchor: { seq: 3 } });
    expect(await applyAuditRetention(db.pool, { now: T0, tenantId: tenant })).toEqual([]);

    // Scheduled: the first run starts at once (nothing left to delete for this tenant now).
    const runs: unknown[] = [];
    const schedule = scheduleAuditRetention(db.pool, {
      now: () => T0,
      onRun: (r) => runs.push(r),
    });
    await schedule.runNow();
    await schedule.stop();
    expect(runs.length).toBeGreaterThanOrEqual(1);

    await db.pool.query('UPDATE audit_heads SET anchor_seq = 2 WHERE tenant_id = $1', [tenant]);
    const forged = await verifyAuditChain(db.pool, tenant);
    expect(forged.ok).toBe(false);
  });

  it('finds whole identifiers only, the same way in SQL and JavaScript', async () => {
    const matcher = personalMatcher({
      emails: ['alice@example.com'],
      phones: ['+15551234567'],
      names: ['Al', 'Alice Liddell', 'Alice Liddell Jr.'],
    });
    const cases: Array<[string, string]> = [
      ['mail ALICE@Example.com now', 'mail X now'],
      ['<alice@example.com>, bob', '<X>, bob'],
      ['end alice@example.com.', 'end X.'],
      ['malice@example.com', 'malice@example.com'],
      ['alice@example.com.au', 'alice@example.com.au'],
      ['alice@example.community', 'alice@example.community'],
      ['call +15551234567 or +155512345678', 'call X or +155512345678'],
      ['by Alice Liddell Jr. and Alice Liddell', 'by X and X'],
      ['Al and Alice Liddellson', 'Al and Alice Liddellson'],
    ];
    for (const [text, expected] of cases) expect(matcher.replace(text, 'X'), text).toBe(expected);
    const { rows } = await db.pool.query<{ out: string }>(
      `SELECT regexp_replace(t, $1, 'X', 'gi') AS out FROM unnest($2::text[]) WITH ORDINALITY AS u(t, i)
        ORDER BY i`,
      [matcher.sql, cases.map(([text]) => text)],
    );
    expect(rows.map((r) => r.out)).toEqual(cases.map(([, expected]) => expected));
  });

  it('pseudonymises personal fields and the chain still verifies', async () => {
    const tenant = await newTenant(db);
    await recordAudit(db.pool, entry(tenant)); // by alice
    await recordAudit(
      db.pool,
      entry(tenant, {
        actor: { kind: 'api_key', id: '9', display: 'ops key' },
        action: 'team.update',
        resourceType: 'team',
        after: { members: ['Alice@Example.com', 'bob@example.com'] },
      }),
    );
    await recordAudit(db.pool, entry(tenant, { actor: { kind: 'user', id: '2', display: 'bob' } }));

    const erased = await inTransaction(db.pool, async (client) => {
      const head = await lockChainHead(client, tenant);
      const list = await pseudonymiseAuditRecords(
        client,
        {
          tenantId: tenant,
          pseudonym: 'erased-user-1',
          actors: [{ kind: 'user', id: '1' }],
          resources: [{ type: 'user', id: '1' }],
          terms: { emails: ['alice@example.com'] },
        },
        head.seq + 1,
      );
      const [record] = await recordAuditInTransaction(client, [
        {
          tenantId: tenant,
          actor: { kind: 'system', id: 'test' },
          action: ERASURE_ACTION,
          resourceType: 'user',
          resourceId: '1',
          after: { pseudonym: 'erased-user-1', pseudonymised: list },
        },
      ]);
      expect(record!.seq).toBe(head.seq + 1);
      return list;
    });
    expect(erased.map(([seq]) => seq)).toEqual([1, 2]);
    const { rows } = await db.pool.query<{ text: string }>(
      `SELECT concat_ws(' ', actor_display, ip, user_agent, diff::text) AS text FROM audit_log
        WHERE tenant_id = $1`,
      [tenant],
    );
    expect(rows.map((r) => r.text).join('\n')).not.toMatch(/alice@example\.com/i);
    expect(rows.map((r) => r.text).join('\n')).toMatch(/bob@example\.com/);
    expect(await verifyAuditChain(db.pool, tenant)).toMatchObject({ ok: true, pseudonymised: 2 });

    await db.pool.query(
      `UPDATE audit_log SET actor_display = 'alice@example.com' WHERE tenant_id = $1 AND seq = 1`,
      [tenant],
    );
    expect((await verifyAuditChain(db.pool, tenant)).broken).toEqual({
      seq: 1,
      reason: expect.stringMatching(/do not match what erasure 4 recorded/),
    });
  });
});

describe('audit store on postgres', () => {
  let db: MigratedTestDatabase;
  beforeAll(async () => {
    db = await createMigratedTestDatabase();
  });
  afterAll(() => db.drop());

  it('redacts secrets in before/after and lists the changed keys', async () => {
    const tenant = await newTenant(db);
    await recordAudit(
      db.pool,
      entry(tenant, {
        before: { name: 'hook', password: 'hunter2', config: { apiToken: 't0k', url: 'x' } },
        after: {
          name: 'hook',
          password: 'hunter3',
          config: { webhookSecret: 'gito:enc:v1:abc:xyz', key_hash: 'ab', url: 'y' },
          key: 'pfx.s3cretvalue',
          note: 'key is pfx.s3cretvalue',
        },
        redact: { values: ['pfx.s3cretvalue'] },
      }),
    );
    const { records } = await searchAudit(db.pool, tenant, {});
    expect(records[0]!.diff).toEqual({
      before: {
        name: 'hook',
        password: '[redacted]',
        config: { apiToken: '[redacted]', url: 'x' },
      },
      after: {
        name: 'hook',
        password: '[redacted]',
        config: { webhookSecret: '[redacted]', key_hash: '[redacted]', url: 'y' },
        key: '[redacted]',
        note: 'key is [redacted]',
      },
      changed: ['config', 'key', 'note'],
    });
  });

  it('keeps the global chain (anonymous refusals) for 90 days by default', async () => {
    for (const at of [T0 - 100 * DAY, T0 - 10 * DAY]) {
      await recordAudit(db.pool, entry(GLOBAL_CHAIN, { at, actor: { kind: 'anonymous' } }));
    }
    const [result] = await applyAuditRetention(db.pool, { now: T0, tenantId: GLOBAL_CHAIN });
    expect(result).toMatchObject({ tenantId: GLOBAL_CHAIN, retentionDays: 90, deleted: 1 });
    expect(await verifyAuditChain(db.pool, GLOBAL_CHAIN)).toMatchObject({ ok: true, firstSeq: 2 });
  });

  it('round-trips awkward values through JSONB and still verifies', async () => {
    const tenant = await newTenant(db);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    await recordAudit(
      db.pool,
      entry(tenant, {
        actor: { kind: 'user', id: '1', display: 'zoë \u0000 😀' },
        before: {
          floats: [0.1 + 0.2, 1e21, 5e-324, -0, 123456789012345680000],
          text: 'é\u0000\ud800 "quoted" \\ \n',
          date: new Date(T0),
          nested: { z: [1, { y: null, x: [true, false] }], a: {} },
          undef: undefined,
          nan: Number.NaN,
        },
        after: cyclic,
        userAgent: 'x'.repeat(2000),
      }),
    );
    expect((await verifyAuditChain(db.pool, tenant)).ok).toBe(true);
  });

  it('refuses malformed entries naming the field and counts them', async () => {
    const log = new AuditLog(db.pool);
    await expect(log.append(entry('t', { action: ' ' }))).rejects.toThrow(AuditEntryError);
    await expect(log.append(entry('t', { actor: { kind: 'robot' as 'user' } }))).rejects.toThrow(
      /actor\.kind/,
    );
    await expect(log.append(entry('t', { result: { status: 42, outcome: 'ok' } }))).rejects.toThrow(
      /result\.status/,
    );
    expect(log.stats.failures).toBe(3);
  });

  it('retries a failing database and then gives up with the entry', async () => {
    // Nothing listens on port 1: every connection is refused.
    const dead = createPool('postgres://postgres@127.0.0.1:1/none', { onError: () => {} });
    try {
      const retried: number[] = [];
      const log = new AuditLog(dead, {
        retryDelaysMs: [0, 0],
        onRetry: (_err, attempt) => retried.push(attempt),
      });
      const failure = await log.append(entry('t')).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(AuditWriteError);
      expect((failure as AuditWriteError).entry.action).toBe('device.update');
      expect(retried).toEqual([1, 2]);
      expect(log.stats).toMatchObject({ failures: 1, retries: 2, written: 0 });
    } finally {
      await dead.end();
    }
  });

  it('searches by actor, action, resource, outcome, time and text with a cursor', async () => {
    const tenant = await newTenant(db);
    const log = new AuditLog(db.pool);
    for (let i = 0; i < 12; i++) {
      await log.append(
        entry(tenant, {
          at: T0 + i * 1000,
          actor: {
            kind: i % 2 === 0 ? 'user' : 'api_key',
            id: String(i % 2),
            display: `a${i % 2}`,
          },
          action: i < 6 ? 'rule.update' : 'device.delete',
          resourceType: i < 6 ? 'rule' : 'device',
          resourceId: String(i % 3),
          result: { status: i === 11 ? 403 : 200, outcome: i === 11 ? 'refused' : 'ok' },
          after: { label: i === 4 ? 'Boiler_room 100%' : 'plain' },
        }),
      );
    }
    const seqs = async (filter: Parameters<typeof searchAudit>[2]) =>
      (await searchAudit(db.pool, tenant, filter, { limit: 100 })).records.map((r) => r.seq);
    expect(await seqs({ actorKind: 'api_key', actorId: '1' })).toEqual([12, 10, 8, 6, 4, 2]);
    expect(await seqs({ action: 'rule.*' })).toEqual([6, 5, 4, 3, 2, 1]);
    expect(await seqs({ action: 'rule' })).toEqual([]);
    expect(await seqs({ resourceType: 'device', resourceId: '0' })).toEqual([10, 7]);
    expect(await seqs({ outcome: 'refused' })).toEqual([12]);
    expect(await seqs({ from: T0 + 3000, to: T0 + 5000 })).toEqual([5, 4]);
    expect(await seqs({ text: 'boiler_ROOM 100%' })).toEqual([5]);
    expect(await seqs({ text: '_room 1' })).toEqual([5]);

    const seen: number[] = [];
    let beforeSeq: number | undefined;
    for (;;) {
      const page = await searchAudit(db.pool, tenant, {}, { limit: 5, beforeSeq });
      seen.push(...page.records.map((r) => r.seq));
      if (page.nextBeforeSeq === null) break;
      beforeSeq = page.nextBeforeSeq;
    }
    expect(seen).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);

    const exported: number[] = [];
    for await (const record of exportAudit(
      db.pool,
      tenant,
      { action: 'device.*' },
      { pageSize: 4 },
    ))
      exported.push(record.seq);
    expect(exported).toEqual([7, 8, 9, 10, 11, 12]);
  });

  it('formats CSV safely and JSON lines', async () => {
    const tenant = await newTenant(db);
    await recordAudit(
      db.pool,
      entry(tenant, {
        actor: { kind: 'user', id: '1', display: '=HYPERLINK("x")' },
        after: { note: 'a,b\n"c"' },
      }),
    );
    const [record] = (await searchAudit(db.pool, tenant, {})).records;
    const line = csvLine(record!);
    expect(csvHeader()).toMatch(/^seq,at,actor_kind,actor_id,actor_display,action,/);
    expect(line).toContain(`"'=HYPERLINK(""x"")"`);
    expect(line.endsWith('\r\n')).toBe(true);
    expect(JSON.parse(jsonLine(record!))).toEqual(record);
  });
});
