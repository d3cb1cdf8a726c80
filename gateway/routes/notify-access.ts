import type { SecretSealer } from '../../db/notify/secrets.ts';
import { ProblemError } from '../http/problem.ts';
import type { ApiContext } from './context.ts';

/** What the notification routes need from the process: the sealer secrets are stored with. */
export interface NotifyAccess {
  /** The same sealer the dispatchers open secrets with (app/notifications.ts). */
  readonly sealer: SecretSealer;
}

/** The process's notification access, or a 503: storing a secret without its sealer is unsafe. */
export function notifyOf(ctx: ApiContext): NotifyAccess {
  const notify = ctx.deps.notify;
  if (notify === undefined) {
    throw new ProblemError(503, 'unavailable', 'notifications are not configured here');
  }
  return notify;
}
