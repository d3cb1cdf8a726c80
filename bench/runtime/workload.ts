/**
 * The work every runtime benchmark does, shared by Gito, the plain-call ceiling and nact so
 * that they all run exactly the same handler code.
 */
import {
  type ActorId,
  ActorSystem,
  actorId,
  defineActor,
  type StateStore,
  silentLogger,
} from '../../runtime/index.ts';

/** A small state of a few numbers, like a device actor's last reading. */
export interface CounterState {
  count: number;
  sum: number;
  last: number;
}

export type CounterMsg = { type: 'add'; value: number } | { type: 'get' } | { type: 'touch' };
type AddMsg = Extract<CounterMsg, { type: 'add' }>;

/** The per-message work: a few field updates on the actor's state. */
export function addTo(state: CounterState, value: number): void {
  state.count++;
  state.sum += value;
  state.last = value;
}

/** What a handler sees of its context here; Gito's ActorContext and the baseline's ctx both fit. */
export interface StateHolder {
  state: CounterState;
}

/** Handler functions, called by Gito and, unchanged, by the plain-call baseline. */
export const counterHandlers = {
  add: (ctx: StateHolder, msg: AddMsg): void => addTo(ctx.state, msg.value),
  get: (ctx: StateHolder): number => ctx.state.count,
  touch: (ctx: StateHolder): void => {
    ctx.state.last = 0;
  },
};

export const initialCounter = (): CounterState => ({ count: 0, sum: 0, last: 0 });

export const counter = defineActor<CounterState, CounterMsg>()({
  kind: 'counter',
  initialState: initialCounter,
  handlers: counterHandlers,
  idleTimeoutMs: 0,
});

/** One message object per type, reused by every sender (no allocation in the send loops). */
export const ADD: CounterMsg = { type: 'add', value: 1 };
export const GET: CounterMsg = { type: 'get' };
export const TOUCH: CounterMsg = { type: 'touch' };

/**
 * A system configured for measurement: nothing passivates (idleTimeoutMs 0), nothing logs.
 * The idle sweep runs at the 30 s interval it has under the default 10-minute idle timeout; with
 * idleTimeoutMs 0 the runtime would otherwise sweep every 250 ms (see BENCHMARKS.md).
 */
export function benchSystem(stateStore?: StateStore): ActorSystem {
  const system = new ActorSystem({
    logger: silentLogger,
    idleTimeoutMs: 0,
    sweepIntervalMs: 30_000,
    reminderPollIntervalMs: 60_000,
    ...(stateStore === undefined ? {} : { stateStore }),
  });
  system.register(counter);
  return system;
}

export function counterIds(n: number): ActorId[] {
  const ids: ActorId[] = new Array(n);
  for (let i = 0; i < n; i++) ids[i] = actorId('counter', `dev-${i}`);
  return ids;
}

/** Sums `count` over the actors by asking each (used to check that no message was lost). */
export async function totalCount(system: ActorSystem, ids: readonly ActorId[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < ids.length; i += 10_000) {
    const counts = await Promise.all(
      ids.slice(i, i + 10_000).map((id) => system.ask<number>(id, GET)),
    );
    for (const c of counts) total += c;
  }
  return total;
}
