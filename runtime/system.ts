import { Registry } from 'prom-client';
import {
  ACTIVE,
  Activation,
  type ActivationHost,
  type LifecycleEventType,
  ReminderMessage,
} from './activation.ts';
import type { DeadLetterReason, DeadLetterSink } from './dead-letters.ts';
import { MemoryDeadLetters } from './dead-letters.ts';
import type {
  ActorDefinition,
  AskOptions,
  Handlers,
  Message,
  ReminderFired,
  ReminderOptions,
  ReplyOf,
  SupervisionOptions,
} from './definition.ts';
import { describe, SystemStoppedError, UnknownKindError } from './errors.ts';
import { type ActorId, actorId, parseActorId } from './identity.ts';
import { KindRuntime } from './kind.ts';
import { type Logger, RateLimitedLog, stderrLogger } from './logger.ts';
import { isPromiseLike } from './maybe-promise.ts';
import { registerRuntimeMetrics } from './metrics.ts';
import { MemoryReminderStore, type ReminderStore } from './reminder-store.ts';
import { ReminderService } from './reminders.ts';
import { PendingAsk, type ReplyHandle } from './reply.ts';
import { MemoryStateStore, type StateStore } from './state-store.ts';
import { DEFAULT_SUPERVISION } from './supervision.ts';
import { TimerQueue } from './timer-queue.ts';

/**
 * The seam the cluster plugs into. The runtime asks it whether an identity is hosted here; if
 * not, the router takes the message (and its reply handle) and the runtime forgets it.
 */
export interface Router {
  isLocal(id: ActorId): boolean;
  forward(id: ActorId, message: Message, reply: ReplyHandle | undefined): void;
}

export interface LifecycleEvent {
  readonly type: LifecycleEventType;
  readonly actor: ActorId;
  readonly epoch: number;
  readonly node: string;
  readonly at: number;
}

export interface ActorSystemOptions {
  readonly nodeId?: string;
  readonly stateStore?: StateStore;
  readonly reminderStore?: ReminderStore;
  readonly deadLetters?: DeadLetterSink;
  readonly logger?: Logger;
  /** prom-client registry to register runtime metrics on (a private one by default). */
  readonly registry?: Registry;
  /** Topology epoch new activations claim with; the cluster raises it on every change. */
  readonly epoch?: number;
  readonly router?: Router;
  readonly defaultAskTimeoutMs?: number;
  readonly mailboxCapacity?: number;
  readonly idleTimeoutMs?: number;
  /** How often idle activations are looked for; defaults to a quarter of idleTimeoutMs. */
  readonly sweepIntervalMs?: number;
  /** Messages one activation may process before others get a turn (fairness). */
  readonly throughput?: number;
  readonly supervision?: Partial<SupervisionOptions>;
  readonly reminderPollIntervalMs?: number;
  /** How long shutdown waits for mailboxes to drain before passivating anyway. */
  readonly shutdownDrainTimeoutMs?: number;
}

/** Messages processed per drain before yielding to I/O with setImmediate. */
const DRAIN_BUDGET = 50_000;

/**
 * A node's actor kernel: registry of kinds, the table of live activations, the ready queue that
 * gives activations turns, idle passivation, reminders, and shutdown.
 */
export class ActorSystem implements ActivationHost {
  readonly nodeId: string;
  readonly logger: Logger;
  readonly store: StateStore;
  readonly deadLetters: DeadLetterSink;
  readonly reminderStore: ReminderStore;
  readonly registry: Registry;
  /** Every activation's timers, in one heap with one Node timer. */
  readonly timers = new TimerQueue();
  epoch: number;
  now = Date.now();

  private readonly kinds = new Map<string, KindRuntime>();
  private readonly activations = new Map<ActorId, Activation>();
  private readonly ready: Activation[] = [];
  private readyHead = 0;
  private drainPending = false;
  private asyncTurns = 0;
  private activating = 0;
  private idleWaiters: Array<() => void> = [];
  private lifecycleListeners: Array<(event: LifecycleEvent) => void> = [];
  private readonly reminders: ReminderService;
  private readonly failureLog: RateLimitedLog;
  private readonly router: Router | undefined;
  private readonly defaultAskTimeoutMs: number;
  private readonly throughput: number;
  private readonly defaults: {
    mailboxCapacity: number;
    idleTimeoutMs: number;
    supervision: SupervisionOptions;
  };
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly sweepIntervalMs: number | undefined;
  private sweeping = false;
  private readonly shutdownDrainTimeoutMs: number;
  /** Refuses messages from outside (shutdown has begun). */
  private closed = false;
  /** Refuses every message, from actors too (shutdown is passivating). */
  private stopped = false;
  private shutdownPromise: Promise<void> | undefined;

  constructor(options: ActorSystemOptions = {}) {
    this.nodeId = options.nodeId ?? 'local';
    this.logger = options.logger ?? stderrLogger;
    this.store = options.stateStore ?? new MemoryStateStore();
    this.reminderStore = options.reminderStore ?? new MemoryReminderStore();
    this.deadLetters = options.deadLetters ?? new MemoryDeadLetters();
    this.registry = options.registry ?? new Registry();
    this.epoch = options.epoch ?? 1;
    this.router = options.router;
    this.defaultAskTimeoutMs = options.defaultAskTimeoutMs ?? 5_000;
    this.throughput = options.throughput ?? 100;
    this.shutdownDrainTimeoutMs = options.shutdownDrainTimeoutMs ?? 10_000;
    this.defaults = {
      mailboxCapacity: options.mailboxCapacity ?? 10_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 10 * 60_000,
      supervision: { ...DEFAULT_SUPERVISION, ...options.supervision },
    };
    registerRuntimeMetrics(this.registry, () => this.kindStats());
    this.failureLog = new RateLimitedLog(this.logger);
    const router = this.router;
    this.reminders = new ReminderService(
      this.reminderStore,
      (actor, fired) => this.deliverReminder(actor, fired),
      {
        pollIntervalMs: options.reminderPollIntervalMs ?? 1_000,
        isLocal: router === undefined ? () => true : (id) => router.isLocal(id),
        logger: this.logger,
      },
    );
    this.reminders.start();
    this.sweepIntervalMs = options.sweepIntervalMs;
  }

  // ---- registration --------------------------------------------------------------------------

  register<S, M extends Message, H extends Handlers<S, M>>(
    definition: ActorDefinition<S, M, H>,
  ): this {
    if (this.kinds.has(definition.kind)) {
      throw new Error(`actor kind '${definition.kind}' is already registered`);
    }
    // The kind runtime is shared by activations of every state type; the variance is erased here.
    const erased = definition as unknown as ActorDefinition<
      unknown,
      Message,
      Handlers<unknown, Message>
    >;
    const rt = new KindRuntime(erased, this.defaults);
    this.kinds.set(definition.kind, rt);
    if (rt.idleTimeoutMs > 0) this.startSweeping(rt.idleTimeoutMs);
    return this;
  }

  /** A typed handle on one identity of a registered kind. */
  ref<S, M extends Message, H extends Handlers<S, M>>(
    definition: ActorDefinition<S, M, H>,
    key: string,
  ): ActorRef<M, H> {
    return new ActorRef<M, H>(actorId(definition.kind, key), this);
  }

  // ---- messaging -----------------------------------------------------------------------------

  /** One-way send. Throws MailboxFullError, UnknownKindError or SystemStoppedError at once. */
  tell<M extends Message>(target: ActorId, message: M): void {
    if (this.closed) throw new SystemStoppedError(target);
    this.send(target, message, undefined);
  }

  /** Request/response with a deadline; rejects with AskTimeoutError when it passes. */
  ask<R = unknown, M extends Message = Message>(
    target: ActorId,
    message: M,
    options?: AskOptions,
  ): Promise<R> {
    const pending = new PendingAsk<R>(
      target,
      typeof message?.type === 'string' ? message.type : '?',
      options?.timeoutMs ?? this.defaultAskTimeoutMs,
    );
    try {
      if (this.closed) throw new SystemStoppedError(target);
      this.send(target, message, pending);
    } catch (err) {
      pending.reject(err);
    }
    return pending.promise;
  }

  /** Routes a message: to the router when another node hosts the target, else locally. */
  send(target: ActorId, message: Message, reply: ReplyHandle | undefined): void {
    if (typeof message !== 'object' || message === null || typeof message.type !== 'string') {
      throw new TypeError(`message to ${target} must be an object with a string 'type'`);
    }
    if (this.stopped) throw new SystemStoppedError(target);
    const router = this.router;
    if (router !== undefined && !router.isLocal(target)) {
      router.forward(target, message, reply);
      return;
    }
    this.deliverLocal(target, message, reply);
  }

  /** Delivers to the local activation, activating on demand. The transport calls this too. */
  deliverLocal(target: ActorId, message: Message, reply: ReplyHandle | undefined): void {
    const activation = this.activations.get(target);
    if (activation !== undefined) {
      activation.enqueue(message, reply);
      return;
    }
    // Queue the first message before starting, so a synchronous activation failure fails it too.
    const created = this.createActivation(target);
    created.enqueue(message, reply);
    created.start();
  }

  private createActivation(id: ActorId): Activation {
    const { kind, key } = parseActorId(id);
    const rt = this.kinds.get(kind);
    if (rt === undefined) throw new UnknownKindError(id, kind);
    const activation = new Activation(id, kind, key, this.epoch, rt, this);
    this.activations.set(id, activation);
    rt.stats.active++;
    return activation;
  }

  private deliverReminder(actor: ActorId, fired: ReminderFired): Promise<void> {
    const pending = new PendingAsk<void>(
      actor,
      '$reminder',
      Math.max(this.defaultAskTimeoutMs, 30_000),
    );
    try {
      this.send(actor, new ReminderMessage(fired), pending);
    } catch (err) {
      pending.reject(err);
    }
    return pending.promise;
  }

  // ---- scheduling ----------------------------------------------------------------------------

  schedule(activation: Activation): void {
    this.ready.push(activation);
    if (!this.drainPending) {
      this.drainPending = true;
      queueMicrotask(this.drain);
    }
  }

  /**
   * Gives queued activations their turns. Runs as a microtask so a burst of tells is processed
   * right after the sender's synchronous code; after DRAIN_BUDGET messages it yields to I/O.
   */
  private readonly drain = (): void => {
    this.now = Date.now();
    const ready = this.ready;
    let i = this.readyHead;
    let budget = DRAIN_BUDGET;
    while (i < ready.length && budget > 0) {
      const activation = ready[i++]!;
      budget -= activation.run(this.throughput) + 1;
    }
    if (i >= ready.length) {
      ready.length = 0;
      this.readyHead = 0;
      this.drainPending = false;
      if (this.idleWaiters.length > 0) this.checkIdle();
    } else {
      if (i > 65_536) {
        ready.splice(0, i);
        i = 0;
      }
      this.readyHead = i;
      setImmediate(this.drain);
    }
  };

  messageLeft(): void {
    if (this.idleWaiters.length > 0) queueMicrotask(() => this.checkIdle());
  }

  /** Messages waiting in all mailboxes (summed per kind: kinds are few, messages are many). */
  private queuedMessages(): number {
    let queued = 0;
    for (const rt of this.kinds.values()) queued += rt.stats.mailboxDepth;
    return queued;
  }

  onAsyncTurn(delta: number): void {
    this.asyncTurns += delta;
    if (delta < 0 && this.idleWaiters.length > 0) this.checkIdle();
  }

  onActivating(delta: number): void {
    this.activating += delta;
    if (delta < 0 && this.idleWaiters.length > 0) this.checkIdle();
  }

  private isIdle(): boolean {
    return this.asyncTurns === 0 && this.activating === 0 && this.queuedMessages() === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when no message is queued and no turn or activation is in progress. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- activation host callbacks -------------------------------------------------------------

  setReminder(actor: ActorId, name: string, options: ReminderOptions): Promise<void> {
    return this.reminders.set(actor, name, options);
  }

  clearReminder(actor: ActorId, name: string): Promise<void> {
    return this.reminders.clear(actor, name);
  }

  /** Reads the reminder store now instead of at the next poll (tests, cluster topology change). */
  pollReminders(): Promise<void> {
    return this.reminders.poll();
  }

  deadLetter(
    activation: Activation,
    message: Message,
    attempts: number,
    error: unknown,
    reason: DeadLetterReason,
  ): void {
    activation.rt.stats.deadLetters++;
    const letter = {
      actor: activation.id,
      messageType: String(message.type),
      message:
        message instanceof ReminderMessage ? { type: message.type, ...message.fired } : message,
      attempts,
      error: describe(error),
      reason,
      at: Date.now(),
    };
    try {
      const added = this.deadLetters.add(letter);
      if (isPromiseLike(added)) {
        added.then(undefined, (err: unknown) =>
          this.logger.error({ actor: activation.id, err: describe(err) }, 'dead letter not stored'),
        );
      }
    } catch (err) {
      this.logger.error({ actor: activation.id, err: describe(err) }, 'dead letter not stored');
    }
  }

  warnFailure(activation: Activation, message: Message, attempt: number, error: unknown): void {
    this.failureLog.warn(
      activation.kind,
      {
        actor: activation.id,
        messageType: String(message.type),
        attempt,
        err: describe(error),
        stack: error instanceof Error ? error.stack : undefined,
      },
      'actor handler failed',
    );
  }

  removed(activation: Activation): void {
    if (this.activations.get(activation.id) === activation) {
      this.activations.delete(activation.id);
      activation.rt.stats.active--;
    }
  }

  redispatch(activation: Activation, leftovers: Array<[Message, ReplyHandle | undefined]>): void {
    for (const [message, reply] of leftovers) {
      try {
        if (this.closed) throw new SystemStoppedError(activation.id);
        this.send(activation.id, message, reply);
      } catch (err) {
        this.deadLetter(activation, message, 0, err, this.closed ? 'shutdown' : 'undeliverable');
        if (reply !== undefined) reply.reject(err);
      }
    }
  }

  lifecycle(activation: Activation, type: LifecycleEventType): void {
    if (this.lifecycleListeners.length === 0) return;
    const event: LifecycleEvent = {
      type,
      actor: activation.id,
      epoch: activation.epoch,
      node: this.nodeId,
      // Sub-millisecond wall time, so logs of several processes on one host can be interleaved.
      at: performance.timeOrigin + performance.now(),
    };
    for (const listener of this.lifecycleListeners) listener(event);
  }

  /** Observe activations and deactivations (the cluster logs them to prove single activation). */
  onLifecycle(listener: (event: LifecycleEvent) => void): () => void {
    this.lifecycleListeners.push(listener);
    return () => {
      this.lifecycleListeners = this.lifecycleListeners.filter((l) => l !== listener);
    };
  }

  // ---- introspection and control -------------------------------------------------------------

  isActive(id: ActorId): boolean {
    return this.activations.has(id);
  }

  activeIds(): IterableIterator<ActorId> {
    return this.activations.keys();
  }

  /** True once shutdown has begun. */
  get stopping(): boolean {
    return this.closed;
  }

  get activeCount(): number {
    return this.activations.size;
  }

  kindStats(): IterableIterator<KindRuntime['stats']> {
    return [...this.kinds.values()].map((k) => k.stats).values();
  }

  /** Passivates one identity if it is active here (rebalancing, tests, operators). */
  deactivate(id: ActorId): Promise<void> {
    const activation = this.activations.get(id);
    return activation === undefined ? Promise.resolve() : activation.passivate('requested');
  }

  /** Passivates every activation for which `predicate` holds, `concurrency` at a time. */
  async deactivateWhere(predicate: (id: ActorId) => boolean, concurrency = 1_000): Promise<number> {
    const chosen = [...this.activations.values()].filter((a) => predicate(a.id));
    for (let i = 0; i < chosen.length; i += concurrency) {
      await Promise.all(chosen.slice(i, i + concurrency).map((a) => a.passivate('rebalance')));
    }
    return chosen.length;
  }

  /** Idle passivation is looked for only when some kind passivates at all. */
  private startSweeping(idleTimeoutMs: number): void {
    if (this.sweepTimer !== undefined || this.closed) return;
    const every = this.sweepIntervalMs ?? Math.max(250, Math.min(30_000, idleTimeoutMs / 4));
    this.sweepTimer = setInterval(() => this.sweepIdle(), every);
    this.sweepTimer.unref();
  }

  /**
   * Passivates activations idle past their kind's timeout. Walks the table in chunks, yielding
   * between them, so a node with a million actors never stalls its event loop for a whole pass.
   */
  private sweepIdle(): void {
    if (this.sweeping) return;
    this.sweeping = true;
    const entries = this.activations.values();
    const chunk = () => {
      const now = Date.now();
      for (let i = 0; i < 20_000; i++) {
        const next = entries.next();
        if (next.done === true) {
          this.sweeping = false;
          return;
        }
        const activation = next.value;
        const idle = activation.rt.idleTimeoutMs;
        if (
          idle > 0 &&
          activation.phase === ACTIVE &&
          !activation.running &&
          !activation.scheduled &&
          activation.size === 0 &&
          now - activation.lastActive >= idle
        ) {
          void activation.passivate('idle');
        }
      }
      setImmediate(chunk);
    };
    chunk();
  }

  /**
   * Graceful shutdown: refuse new messages from outside, let queued work finish (actors may still
   * message each other), then passivate (save) every activation. Idempotent.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.runShutdown();
    return this.shutdownPromise;
  }

  private async runShutdown(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    await this.reminders.stop();
    let drainTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.whenIdle().then(() => true),
      new Promise<boolean>((resolve) => {
        drainTimer = setTimeout(() => resolve(false), this.shutdownDrainTimeoutMs);
      }),
    ]);
    clearTimeout(drainTimer);
    if (!drained) {
      this.logger.warn(
        { queued: this.queuedMessages() },
        'shutdown: mailboxes did not drain in time',
      );
    }
    // onDeactivate hooks may message other actors; the second round passivates those, after
    // which nothing is accepted at all.
    for (let round = 0; round < 3 && this.activations.size > 0; round++) {
      if (round === 2) this.stopped = true;
      await this.deactivateWhere(() => true);
    }
    this.stopped = true;
  }
}

/** A typed handle on one identity: `tell` takes the kind's messages, `ask` infers the reply. */
export class ActorRef<M extends Message, H> {
  constructor(
    readonly id: ActorId,
    private readonly system: ActorSystem,
  ) {}

  tell(message: M): void {
    this.system.tell(this.id, message);
  }

  ask<T extends M>(message: T, options?: AskOptions): Promise<ReplyOf<H, T['type']>> {
    return this.system.ask<ReplyOf<H, T['type']>>(this.id, message, options);
  }
}
