import type { Pool } from 'pg';

/**
 * Recorded readings of devices (by devices.id) in [from, to], grouped per device in time order.
 * Reads with a cursor-free keyset over (device_id, ts) in pages so a long range is never held
 * twice in memory.
 */
export async function readTelemetry(
  pool: Pool,
  deviceIds: readonly number[],
  from: number,
  to: number,
  pageSize = 20_000,
): Promise<Map<number, Array<{ ts: number; metrics: Record<string, unknown> }>>> {
  const out = new Map<number, Array<{ ts: number; metrics: Record<string, unknown> }>>();
  let afterDevice = -1;
  let afterTs = from - 1;
  for (;;) {
    const { rows } = await pool.query<{
      device_id: string;
      ms: string;
      metrics: Record<string, unknown>;
    }>(
      `SELECT device_id, (extract(epoch FROM ts) * 1000)::bigint::text AS ms, metrics
       FROM telemetry
       WHERE device_id = ANY($1::bigint[])
         AND ts BETWEEN timestamptz 'epoch' + $2::bigint * interval '1 millisecond'
                    AND timestamptz 'epoch' + $3::bigint * interval '1 millisecond'
         AND (device_id, ts) > ($4::bigint, timestamptz 'epoch' + $5::bigint * interval '1 millisecond')
       ORDER BY device_id, ts LIMIT $6`,
      [deviceIds, from, to, afterDevice, afterTs, pageSize],
    );
    for (const r of rows) {
      const id = Number(r.device_id);
      const list = out.get(id) ?? [];
      out.set(id, list);
      list.push({ ts: Number(r.ms), metrics: r.metrics });
    }
    if (rows.length < pageSize) return out;
    const last = rows[rows.length - 1]!;
    afterDevice = Number(last.device_id);
    afterTs = Number(last.ms);
  }
}
