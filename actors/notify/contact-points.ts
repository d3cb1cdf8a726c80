import type {
  ContactPointInput,
  ContactPointKind,
  ContactPointWithSecret,
} from '../../db/notify/contact-points.ts';
import { TargetError } from './channels/channel.ts';
import { channelModule } from './channels/registry.ts';

/**
 * Contact points <-> channel targets. A contact point stores its target split: public fields in
 * `config`, the channel's secretFields sealed in `secret`.
 */

/** Validates `target` for `kind` and splits it for storage; throws TargetError naming the field. */
export function contactPointFields(
  kind: ContactPointKind,
  target: unknown,
): Pick<ContactPointInput, 'address' | 'config' | 'secret'> {
  const module = channelModule(kind);
  if (module === undefined) throw new TargetError('kind', `unknown channel '${kind}'`);
  const parsed = module.parseTarget(target) as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (module.secretFields.includes(key)) secret[key] = value;
    else config[key] = value;
  }
  return {
    address: module.describe(parsed),
    config,
    secret: Object.keys(secret).length === 0 ? null : secret,
  };
}

/** The channel target of a stored contact point (config and opened secret merged, validated). */
export function targetOfContactPoint(point: ContactPointWithSecret): unknown {
  const module = channelModule(point.kind);
  if (module === undefined) throw new TargetError('kind', `unknown channel '${point.kind}'`);
  return module.parseTarget({ ...point.config, ...(point.secret ?? {}) });
}
