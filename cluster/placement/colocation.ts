import { type ActorId, isValidKind } from '../../runtime/identity.ts';

/**
 * Given an actor's key, the identity it must be placed with, or undefined to be placed by its
 * own identity (for example a key the rule cannot parse). Must be pure: every node has to get
 * the same answer for the same key.
 */
export type PlaceWith = (key: string) => ActorId | undefined;

/**
 * Per-kind co-location rules: a kind may ask to be placed with another identity, so that related
 * actors share an owner and their messages stay in-process. Example: `rule-worker` with key
 * `acme:42@device:acme:pump-17` is placed with `device/acme:pump-17`.
 *
 * Rules apply one level deep: the identity a rule returns is hashed as is, even when its own kind
 * has a rule, so a rule's effect is visible from its definition alone.
 *
 * Every node must register the same rules before it joins the cluster (as it registers the same
 * actor kinds); a node with different rules would compute different owners.
 */
export class Colocation {
  private readonly rules = new Map<string, PlaceWith>();

  register(kind: string, placeWith: PlaceWith): this {
    if (!isValidKind(kind)) throw new Error(`invalid actor kind '${kind}' for co-location`);
    if (this.rules.has(kind))
      throw new Error(`co-location for kind '${kind}' is already registered`);
    this.rules.set(kind, placeWith);
    return this;
  }

  get kinds(): readonly string[] {
    return [...this.rules.keys()];
  }

  /** The string whose hash decides the owner of `identity`. */
  placementKeyOf(identity: ActorId): string {
    // Most kinds have no rule: skip parsing the identity when there are none at all.
    if (this.rules.size === 0) return identity;
    const slash = identity.indexOf('/');
    if (slash <= 0) return identity;
    const placeWith = this.rules.get(identity.slice(0, slash));
    if (placeWith === undefined) return identity;
    return placeWith(identity.slice(slash + 1)) ?? identity;
  }
}
