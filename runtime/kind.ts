import type { ActorDefinition, Handlers, Message, SupervisionOptions } from './definition.ts';
import { InvalidIdentityError, isValidKind } from './identity.ts';
import { KindStats } from './metrics.ts';
import { DEFAULT_SUPERVISION } from './supervision.ts';

type AnyHandler = (ctx: never, message: never) => unknown;

/** A registered actor type with its defaults resolved, shared by all of its activations. */
export class KindRuntime {
  readonly kind: string;
  /** Null-prototype copy so a message type like 'constructor' finds no handler. */
  readonly handlers: Record<string, AnyHandler | undefined>;
  readonly mailboxCapacity: number;
  readonly idleTimeoutMs: number;
  readonly persistent: boolean;
  readonly supervision: SupervisionOptions;
  readonly stats: KindStats;

  constructor(
    readonly definition: ActorDefinition<unknown, Message, Handlers<unknown, Message>>,
    defaults: { mailboxCapacity: number; idleTimeoutMs: number; supervision: SupervisionOptions },
  ) {
    if (!isValidKind(definition.kind)) {
      throw new InvalidIdentityError(`${definition.kind}/`, 'kind must match [a-z][a-z0-9-]*');
    }
    this.kind = definition.kind;
    this.handlers = Object.assign(Object.create(null), definition.handlers);
    this.mailboxCapacity = definition.mailboxCapacity ?? defaults.mailboxCapacity;
    if (!(this.mailboxCapacity >= 1)) {
      throw new RangeError(`kind '${this.kind}': mailboxCapacity must be >= 1`);
    }
    this.idleTimeoutMs = definition.idleTimeoutMs ?? defaults.idleTimeoutMs;
    this.persistent = definition.persistent ?? true;
    this.supervision = {
      ...DEFAULT_SUPERVISION,
      ...defaults.supervision,
      ...definition.supervision,
    };
    this.stats = new KindStats(this.kind);
  }
}
