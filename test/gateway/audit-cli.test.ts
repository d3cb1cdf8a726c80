import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAuditCommand } from '../../app/audit-cli.ts';
import { recordAudit } from '../../db/audit/index.ts';
import { createMigratedTestDatabase, type MigratedTestDatabase } from '../db/helpers.ts';

let db: MigratedTestDatabase;

async function run(...args: string[]) {
  let out = '';
  let err = '';
  const code = await runAuditCommand(args, db.pool, {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

beforeAll(async () => {
  db = await createMigratedTestDatabase();
  await db.pool.query(`INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('beta', 'Beta')`);
  for (const tenantId of ['acme', 'acme', 'acme', 'beta']) {
    await recordAudit(db.pool, {
      tenantId,
      actor: { kind: 'system', id: 'cli' },
      action: 'rule.update',
      resourceType: 'rule',
      resourceId: '1',
      after: { enabled: false },
    });
  }
}, 30_000);
afterAll(() => db?.drop());

describe('gito audit', () => {
  it('verifies a tenant, then reports the first broken link with exit status 1', async () => {
    const ok = await run('verify', '--tenant', 'acme');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^tenant acme: ok \(3 records, seq 1-3\), head [0-9a-f]{64}\n$/);

    await db.pool.query('DELETE FROM audit_log WHERE tenant_id = $1 AND seq = 2', ['acme']);
    const broken = await run('verify', '--tenant', 'acme');
    expect(broken.code).toBe(1);
    expect(broken.out).toBe(
      'tenant acme: BROKEN at seq 2: record 2 is missing (2 records, seq 1-3)\n',
    );

    const all = await run('verify', '--all', '--json');
    expect(all.code).toBe(1);
    const results = all.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(results.map((r) => [r.tenantId, r.ok])).toEqual([
      ['acme', false],
      ['beta', true],
    ]);
  });

  it('explains its usage', async () => {
    expect((await run('verify')).code).toBe(2);
    expect((await run('verify', '--tenant')).err).toMatch(/--tenant needs a tenant id/);
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('help')).out).toMatch(/gito audit verify --tenant/);
  });

  it('applies retention now', async () => {
    expect((await run('retention', '--tenant', 'beta')).out).toBe('nothing to delete\n');
  });
});
