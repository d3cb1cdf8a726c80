/**
 * An actor identity is `kind/key`: `device/acme:pump-17`, `rule/acme:42`.
 * The kind names a registered actor type; the key is opaque to the runtime and may contain '/'.
 */
export type ActorId = string;

const KIND_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

export class InvalidIdentityError extends Error {
  override readonly name = 'InvalidIdentityError';
  constructor(
    readonly id: string,
    reason: string,
  ) {
    super(`invalid actor identity '${id}': ${reason}`);
  }
}

export function isValidKind(kind: string): boolean {
  return KIND_PATTERN.test(kind);
}

export function actorId(kind: string, key: string): ActorId {
  if (!isValidKind(kind)) {
    throw new InvalidIdentityError(`${kind}/${key}`, 'kind must match [a-z][a-z0-9-]*');
  }
  if (key.length === 0) throw new InvalidIdentityError(`${kind}/`, 'key is empty');
  return `${kind}/${key}`;
}

/** Splits an identity; throws InvalidIdentityError when it has no kind or no key. */
export function parseActorId(id: string): { kind: string; key: string } {
  const slash = id.indexOf('/');
  if (slash <= 0 || slash === id.length - 1) {
    throw new InvalidIdentityError(id, "expected 'kind/key'");
  }
  return { kind: id.slice(0, slash), key: id.slice(slash + 1) };
}
