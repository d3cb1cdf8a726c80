import type { Pool } from 'pg';
import { applyAuditRetention, type VerifyResult, verifyAuditChain } from '../db/audit/index.ts';

export const AUDIT_USAGE = `usage:
  gito audit verify --tenant <id> [--json]   verify a tenant's audit hash chain
  gito audit verify --all [--json]           verify every chain (tenants and _global)
  gito audit retention [--tenant <id>]       delete records older than each tenant's retention now
exit status: 0 verified, 1 a chain is broken, 2 usage error`;

export interface AuditCliOutput {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: AuditCliOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** `gito audit ...` (args after 'audit'); returns the exit status. */
export async function runAuditCommand(
  args: readonly string[],
  pool: Pool,
  io: AuditCliOutput = STDIO,
): Promise<number> {
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  const tenant = flag('--tenant');
  if (args.includes('--tenant') && (tenant === undefined || tenant.startsWith('--'))) {
    io.err(`gito audit: --tenant needs a tenant id\n\n${AUDIT_USAGE}\n`);
    return 2;
  }
  switch (args[0]) {
    case 'verify': {
      const all = args.includes('--all');
      if ((tenant === undefined) === !all) {
        io.err(`gito audit verify: give --tenant <id> or --all\n\n${AUDIT_USAGE}\n`);
        return 2;
      }
      const tenants =
        tenant !== undefined
          ? [tenant]
          : (
              await pool.query<{ tenant_id: string }>(
                'SELECT tenant_id FROM audit_heads ORDER BY tenant_id',
              )
            ).rows.map((r) => r.tenant_id);
      let broken = 0;
      if (tenants.length === 0) io.out('no audit chains yet\n');
      for (const id of tenants) {
        const result = await verifyAuditChain(pool, id);
        if (!result.ok) broken++;
        io.out(
          args.includes('--json') ? `${JSON.stringify(result)}\n` : `${formatVerify(result)}\n`,
        );
      }
      return broken === 0 ? 0 : 1;
    }
    case 'retention': {
      const results = await applyAuditRetention(
        pool,
        tenant === undefined ? {} : { tenantId: tenant },
      );
      if (results.length === 0) io.out('nothing to delete\n');
      for (const r of results) {
        io.out(
          `tenant ${r.tenantId}: deleted ${r.deleted} records older than ${r.retentionDays} days; chain now starts after seq ${r.anchor.seq}\n`,
        );
      }
      return 0;
    }
    case 'help':
    case '--help':
      io.out(`${AUDIT_USAGE}\n`);
      return 0;
    default:
      io.err(`gito audit: unknown command '${args[0] ?? ''}'\n\n${AUDIT_USAGE}\n`);
      return 2;
  }
}

export function formatVerify(result: VerifyResult): string {
  const range =
    result.firstSeq === null
      ? 'no records'
      : `${result.records} records, seq ${result.firstSeq}-${result.lastSeq}`;
  if (result.broken !== null) {
    return `tenant ${result.tenantId}: BROKEN at seq ${result.broken.seq}: ${result.broken.reason} (${range})`;
  }
  const extra = [
    result.anchor.seq > 0 ? `records up to ${result.anchor.seq} removed by retention` : '',
    result.pseudonymised > 0 ? `${result.pseudonymised} pseudonymised` : '',
  ].filter((s) => s !== '');
  return `tenant ${result.tenantId}: ok (${range}${extra.length > 0 ? `; ${extra.join('; ')}` : ''}), head ${result.head.hash}`;
}
