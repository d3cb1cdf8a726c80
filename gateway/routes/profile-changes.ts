import type { Pool } from 'pg';
import { deviceActorId } from '../../actors/device/device-actor.ts';
import type { ActorAccess } from '../deps.ts';

/**
 * Tells the devices whose groups, tags or attributes changed, so the rules that apply to them
 * (scopes by group or tag, thresholds from attributes) are re-resolved at once rather than at
 * their next activation. Best effort and not awaited by the request: a device that misses it
 * re-reads its profile whenever it is activated again.
 */
export function announceProfileChanges(
  pool: Pool,
  actors: ActorAccess,
  tenantId: string,
  deviceIds: readonly string[],
): void {
  if (deviceIds.length === 0) return;
  void (async () => {
    const { rows } = await pool.query<{ external_id: string }>(
      'SELECT external_id FROM devices WHERE tenant_id = $1 AND id = ANY($2::bigint[])',
      [tenantId, deviceIds],
    );
    await Promise.allSettled(
      rows.map((r) =>
        actors.ask(
          deviceActorId(tenantId, r.external_id),
          { type: 'profileChanged' },
          { timeoutMs: 5_000 },
        ),
      ),
    );
  })().catch(() => undefined);
}
