import {
  ActorSystem,
  type ActorSystemOptions,
  defineActor,
  Rejection,
  silentLogger,
} from '../../runtime/index.ts';

export type CounterMessage =
  | { type: 'add'; by: number }
  | { type: 'get' }
  | { type: 'slowAdd'; by: number; delayMs: number }
  | { type: 'fail'; message: string }
  | { type: 'reject'; reason: string }
  | { type: 'log'; value: number }
  | { type: 'failUntilRestart' }
  | { type: 'history' }
  | { type: 'stop' };

export interface CounterState {
  total: number;
  log: number[];
  /** Not persisted meaningfully: marks in-memory changes a restart must discard. */
  dirty: boolean;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A counter with enough behaviour to exercise every runtime feature. */
export const counter = defineActor<CounterState, CounterMessage>()({
  kind: 'counter',
  initialState: () => ({ total: 0, log: [], dirty: false }),
  handlers: {
    add(ctx, m) {
      ctx.state.total += m.by;
      return ctx.state.total;
    },
    get(ctx) {
      return ctx.state.total;
    },
    async slowAdd(ctx, m) {
      const before = ctx.state.total;
      await sleep(m.delayMs);
      ctx.state.total = before + m.by;
      return ctx.state.total;
    },
    fail(_ctx, m): never {
      throw new Error(m.message);
    },
    reject(_ctx, m): never {
      throw new Rejection(m.reason, 'bad-request');
    },
    log(ctx, m) {
      ctx.state.log.push(m.value);
    },
    failUntilRestart(ctx) {
      // Fails while in-memory state is dirty; a restart reloads clean state and it succeeds.
      if (ctx.state.dirty) throw new Error('dirty state');
      ctx.state.dirty = true;
      throw new Error('first failure marks state dirty');
    },
    history(ctx) {
      return [...ctx.state.log];
    },
    stop(ctx) {
      ctx.deactivate();
    },
  },
});

export function newSystem(options: ActorSystemOptions = {}): ActorSystem {
  const system = new ActorSystem({
    logger: silentLogger,
    supervision: { backoffBaseMs: 1, backoffMaxMs: 5 },
    ...options,
  });
  system.register(counter);
  return system;
}
