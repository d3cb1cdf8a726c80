export type MaybePromise<T> = T | PromiseLike<T>;

/** True for anything with a callable `then`: the runtime's fast path tests this once per turn. */
export function isPromiseLike<T>(value: MaybePromise<T>): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
