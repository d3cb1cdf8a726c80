import type { SupervisionOptions } from './definition.ts';

export const DEFAULT_SUPERVISION: SupervisionOptions = {
  maxAttempts: 3,
  restartAfterFailures: 2,
  backoffBaseMs: 20,
  backoffMaxMs: 10_000,
};

/**
 * Delay before restart number `restart` (1-based): exponential, capped, with jitter in
 * [50%, 100%] so many actors failing on the same cause do not restart in lockstep.
 */
export function restartDelayMs(options: SupervisionOptions, restart: number): number {
  const exp = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** Math.max(0, restart - 1));
  return Math.round(exp * (0.5 + Math.random() * 0.5));
}
