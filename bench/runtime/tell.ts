/**
 * `tell` throughput to warm actors (tinybench): each iteration sends one batch round-robin over
 * the actors and waits until every message has been handled. The same batch, over the same
 * number of state objects looked up by the same string ids, is run as plain function calls
 * through an array queue (the ceiling), and optionally through nact.
 *
 * The contenders run in several rounds (gito, plain, nact, gito, plain, nact, ...), each round a
 * tinybench run of every task, so that load from elsewhere on the machine drifting during the run
 * hits all of them alike; each figure is the median over the rounds.
 */
import nact from 'nact';
import { Bench, type Fn } from 'tinybench';
import type { ActorId } from '../../runtime/index.ts';
import { fullGc, log, logTable, QUICK, type TaskStats, taskStats } from '../lib/report.ts';
import {
  ADD,
  addTo,
  benchSystem,
  type CounterMsg,
  type CounterState,
  counterHandlers,
  counterIds,
  initialCounter,
  type StateHolder,
  TOUCH,
  totalCount,
} from './workload.ts';

export interface TellCase {
  readonly actors: number;
  /** Messages per iteration, sent round-robin: actor 0, 1, ..., n-1, 0, 1, ... */
  readonly batch: number;
  /** Also run nact 7 on the same work. */
  readonly nact?: boolean;
}

export interface Throughput {
  /** msg/s: batch / mean iteration time, median over the rounds */
  readonly rate: number;
  /** Per round, in round order. */
  readonly rounds: readonly number[];
  /** Largest relative margin of error (%) of a round's mean. */
  readonly rmePct: number;
}

export interface TellResult {
  readonly actors: number;
  readonly batch: number;
  readonly gito: Throughput;
  readonly plain: Throughput;
  readonly nact?: Throughput;
}

type AnyHandler = (ctx: StateHolder, msg: CounterMsg) => unknown;

const ROUNDS = QUICK ? 1 : 3;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function benchTell(c: TellCase): Promise<TellResult> {
  const { actors, batch } = c;
  const ids = counterIds(actors);
  const tasks: Array<[string, Fn]> = [];

  // ---- Gito: warm actors (activated by one message each before measuring) --------------------
  const system = benchSystem();
  for (const id of ids) system.tell(id, TOUCH);
  await system.whenIdle();
  let gitoCursor = 0;
  let gitoSent = 0;
  tasks.push([
    'gito',
    async () => {
      let j = gitoCursor;
      for (let i = 0; i < batch; i++) {
        system.tell(ids[j]!, ADD);
        if (++j === actors) j = 0;
      }
      gitoCursor = j;
      gitoSent += batch;
      await system.whenIdle();
    },
  ]);

  // ---- plain-call ceiling --------------------------------------------------------------------
  // Same ids, same Map<string, ctx> lookup per message, same handler functions chosen by the
  // message's type; the queue is a preallocated flat array of (id, message) pairs.
  const ctxs = new Map<ActorId, StateHolder>();
  for (const id of ids) ctxs.set(id, { state: initialCounter() });
  const handlers: Record<string, AnyHandler> = {
    ...(counterHandlers as Record<string, AnyHandler>),
  };
  const queue: unknown[] = new Array(batch * 2).fill(undefined);
  let plainCursor = 0;
  let plainSent = 0;
  tasks.push([
    'plain calls',
    () => {
      let j = plainCursor;
      let tail = 0;
      for (let i = 0; i < batch; i++) {
        queue[tail++] = ids[j];
        queue[tail++] = ADD;
        if (++j === actors) j = 0;
      }
      plainCursor = j;
      for (let k = 0; k < tail; k += 2) {
        const msg = queue[k + 1] as CounterMsg;
        handlers[msg.type]!(ctxs.get(queue[k] as ActorId)!, msg);
      }
      plainSent += batch;
    },
  ]);

  // ---- nact: one spawned actor per id, a reducer doing the same increment ------------------------
  let nactSystem: ReturnType<typeof nact.start> | undefined;
  let nactProcessed = 0;
  let nactSent = 0;
  if (c.nact === true) {
    const nsys = nact.start();
    nactSystem = nsys;
    let target = 0;
    let done: () => void = () => {};
    const reducer = (state: CounterState, msg: CounterMsg): CounterState => {
      if (msg.type === 'add') addTo(state, msg.value);
      if (++nactProcessed === target) done();
      return state;
    };
    const refs = ids.map((_, i) =>
      nact.spawn(nsys, reducer, `counter-${i}`, { initialState: initialCounter() }),
    );
    tasks.push([
      'nact',
      async () => {
        target = nactProcessed + batch;
        const finished = new Promise<void>((resolve) => {
          done = resolve;
        });
        let j = 0;
        for (let i = 0; i < batch; i++) {
          nact.dispatch(refs[j]!, ADD);
          if (++j === actors) j = 0;
        }
        nactSent += batch;
        await finished;
      },
    ]);
  }

  const perRound = new Map<string, TaskStats[]>(tasks.map(([name]) => [name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    const bench = new Bench({
      name: `tell to ${actors} actors, round ${round}`,
      time: QUICK ? 400 : 2_000,
      iterations: QUICK ? 5 : 20,
      warmupTime: QUICK ? 150 : 500,
      warmupIterations: QUICK ? 5 : 10,
      throws: true,
    });
    for (const [name, fn] of tasks) bench.add(name, fn, { beforeAll: fullGc });
    log(`tell: ${actors} actors, batches of ${batch} messages, round ${round}/${ROUNDS}`);
    await bench.run();
    logTable(bench.tasks);
    for (const [name] of tasks) perRound.get(name)!.push(taskStats(bench.getTask(name)));
  }

  // Nothing lost: every actor's count adds up to what was sent.
  const gitoCounted = await totalCount(system, ids);
  let plainCounted = 0;
  for (const ctx of ctxs.values()) plainCounted += ctx.state.count;
  if (gitoCounted !== gitoSent || plainCounted !== plainSent || nactProcessed !== nactSent) {
    throw new Error(
      `lost messages: gito ${gitoCounted}/${gitoSent}, plain ${plainCounted}/${plainSent}, nact ${nactProcessed}/${nactSent}`,
    );
  }
  await system.shutdown();
  if (nactSystem !== undefined) nact.stop(nactSystem);

  const throughput = (name: string): Throughput => {
    const stats = perRound.get(name)!;
    const rounds = stats.map((s) => (batch * 1000) / s.meanMs);
    return { rate: median(rounds), rounds, rmePct: Math.max(...stats.map((s) => s.rmePct)) };
  };
  return {
    actors,
    batch,
    gito: throughput('gito'),
    plain: throughput('plain calls'),
    ...(c.nact === true ? { nact: throughput('nact') } : {}),
  };
}
