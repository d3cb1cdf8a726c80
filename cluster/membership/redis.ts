import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis, type RedisOptions } from 'ioredis';
import { type Logger, stderrLogger } from '../../runtime/logger.ts';
import { TopologyFeed } from './feed.ts';
import { HEARTBEAT_LUA, JOIN_LUA, LEAVE_LUA, READ_LUA } from './lua.ts';
import type { Member, MembershipProvider, Topology } from './types.ts';
import { copyMember, makeTopology, validateId, validateMember } from './validate.ts';

export interface RedisMembershipOptions {
  /** `redis://[:password@]host:port[/db]` or `rediss://...`. Default `redis://127.0.0.1:6379`. */
  readonly redisUrl?: string;
  /**
   * Creates an ioredis client; called once for commands and once for the pub/sub subscriber
   * (with `role`). Overrides `redisUrl`. Start from `redisOptionsForMembership()` so that
   * commands fail fast during an outage instead of queueing.
   */
  readonly createClient?: (role: 'command' | 'subscriber') => Redis;
  /** Key prefix; one registry per name. Same rules as a member id. Default `gito`. */
  readonly clusterName?: string;
  /** Lease renewal period. Default 1000. */
  readonly heartbeatIntervalMs?: number;
  /** The lease is `heartbeatIntervalMs * missedHeartbeats`. Default 3. */
  readonly missedHeartbeats?: number;
  /**
   * A node fences itself (onLeaseLost) once `lease - safetyMarginMs` has passed on its own
   * monotonic clock since the last successful renewal was sent. Covers timer lateness and clock
   * rate differences. Default `heartbeatIntervalMs`. Must leave more than one heartbeat
   * interval: `lease - safetyMarginMs > heartbeatIntervalMs`.
   */
  readonly safetyMarginMs?: number;
  /** Fallback read of the topology when pub/sub misses a change. Default 2000. */
  readonly pollIntervalMs?: number;
  /**
   * When a node finds the registry empty (first start, or Redis lost its data), topologies are
   * held back for this long so every live node can re-register first. Default: the lease.
   * 0 disables it (unsafe after a Redis restart: a node that has not re-registered yet would be
   * dropped while it still holds actors).
   */
  readonly recoveryGraceMs?: number;
  /** Listen on pub/sub for changes. Default true; false leaves polling only. */
  readonly subscribe?: boolean;
  /** join() rejects (and closes the provider) when no topology arrives within this. Default 30000 or more. */
  readonly joinTimeoutMs?: number;
  readonly logger?: Logger;
}

interface Settings {
  readonly clusterName: string;
  readonly heartbeatIntervalMs: number;
  readonly leaseMs: number;
  readonly safetyMarginMs: number;
  readonly pollIntervalMs: number;
  readonly recoveryGraceMs: number;
  readonly subscribe: boolean;
  readonly joinTimeoutMs: number;
}

/** The Redis keys and channel of one cluster name (all in one hash slot, `{name}`). */
export function membershipKeys(clusterName: string): {
  readonly members: string;
  readonly leases: string;
  readonly meta: string;
  readonly channel: string;
} {
  validateId('clusterName', clusterName);
  const tag = `{${clusterName}}`;
  return {
    members: `${tag}:members`,
    leases: `${tag}:leases`,
    meta: `${tag}:meta`,
    channel: `${tag}:topology`,
  };
}

/**
 * ioredis options suited to membership: the command connection fails fast while Redis is
 * unreachable (no offline queue, no retry of in-flight commands), so heartbeats never pile up;
 * reconnects are retried every at most one heartbeat interval, forever.
 */
export function redisOptionsForMembership(
  role: 'command' | 'subscriber',
  heartbeatIntervalMs = 1000,
): RedisOptions {
  const cap = Math.max(20, heartbeatIntervalMs);
  return {
    lazyConnect: true,
    enableOfflineQueue: role === 'subscriber',
    maxRetriesPerRequest: role === 'command' ? 0 : null,
    connectTimeout: Math.max(1000, heartbeatIntervalMs * 2),
    commandTimeout: role === 'command' ? Math.max(500, heartbeatIntervalMs * 2) : undefined,
    retryStrategy: (times) => Math.min(cap, 10 * 2 ** Math.min(times, 12)) + Math.random() * 10,
  };
}

interface ScriptReply {
  readonly status: string;
  readonly epoch: number;
  readonly recoveringMs: number;
  /** Undefined for replies without a member list (heartbeat). */
  readonly members: Member[] | undefined;
}

class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

const JOIN = new Script(JOIN_LUA);
const HEARTBEAT = new Script(HEARTBEAT_LUA);
const LEAVE = new Script(LEAVE_LUA);
const READ = new Script(READ_LUA);

type Mode = 'idle' | 'observing' | 'joined' | 'left' | 'closed';

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function resolveSettings(o: RedisMembershipOptions): Settings {
  const clusterName = o.clusterName ?? 'gito';
  validateId('clusterName', clusterName);
  const heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', o.heartbeatIntervalMs ?? 1000);
  const missed = positiveInt('missedHeartbeats', o.missedHeartbeats ?? 3);
  const leaseMs = heartbeatIntervalMs * missed;
  const safetyMarginMs = positiveInt('safetyMarginMs', o.safetyMarginMs ?? heartbeatIntervalMs);
  if (leaseMs - safetyMarginMs <= heartbeatIntervalMs) {
    throw new RangeError(
      `lease (heartbeatIntervalMs * missedHeartbeats = ${leaseMs} ms) minus safetyMarginMs ` +
        `(${safetyMarginMs} ms) must exceed heartbeatIntervalMs (${heartbeatIntervalMs} ms), ` +
        'or a node fences itself whenever one heartbeat is late; raise missedHeartbeats',
    );
  }
  const pollIntervalMs = positiveInt('pollIntervalMs', o.pollIntervalMs ?? 2000);
  const recoveryGraceMs = o.recoveryGraceMs ?? leaseMs;
  if (!Number.isSafeInteger(recoveryGraceMs) || recoveryGraceMs < 0) {
    throw new RangeError(`recoveryGraceMs must be an integer >= 0, got ${recoveryGraceMs}`);
  }
  const joinTimeoutMs = positiveInt(
    'joinTimeoutMs',
    o.joinTimeoutMs ?? Math.max(30_000, recoveryGraceMs + leaseMs * 2),
  );
  return {
    clusterName,
    heartbeatIntervalMs,
    leaseMs,
    safetyMarginMs,
    pollIntervalMs,
    recoveryGraceMs,
    subscribe: o.subscribe ?? true,
    joinTimeoutMs,
  };
}

function parseMembers(flat: unknown, logger: Logger): Member[] {
  if (!Array.isArray(flat)) throw new Error('membership: malformed member list from Redis');
  const members: Member[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const id = flat[i];
    const json = flat[i + 1];
    try {
      const parsed: unknown = JSON.parse(String(json));
      const m = parsed as Member;
      validateMember(m);
      if (m.id !== id) throw new Error(`entry ${String(id)} holds member ${m.id}`);
      members.push(copyMember(m));
    } catch (err) {
      logger.warn({ err, entry: String(id) }, 'membership: skipping a malformed member entry');
    }
  }
  return members;
}

function parseReply(reply: unknown, logger: Logger): ScriptReply {
  if (!Array.isArray(reply) || reply.length < 4) {
    throw new Error(`membership: unexpected script reply ${JSON.stringify(reply)}`);
  }
  const [status, epoch, recovering, flat] = reply as [unknown, unknown, unknown, unknown];
  const epochNumber = Number(epoch);
  if (!Number.isSafeInteger(epochNumber) || epochNumber < 0) {
    throw new Error(`membership: unexpected epoch ${String(epoch)} from Redis`);
  }
  return {
    status: String(status),
    epoch: epochNumber,
    recoveringMs: Math.max(0, Number(recovering) || 0),
    members: Array.isArray(flat) ? parseMembers(flat, logger) : undefined,
  };
}

/**
 * Cluster membership in Redis. See docs/cluster-membership.md for the key layout, the lease and
 * self-fencing rules, epochs across Redis restarts and outage behaviour.
 *
 * Contract for the node layer beyond MembershipProvider:
 * - After onLeaseLost the node must stop hosting at once. The provider keeps trying to
 *   re-register the same Member; the first onChange after an onLeaseLost is the topology of
 *   that re-join (it contains this node and has a higher epoch than anything before): restart
 *   hosting under it. No topology is delivered while fenced.
 * - `hasLease()` is a synchronous check on the local clock, for use before activating an actor
 *   or starting a turn (it is true only between a successful renewal and its fence deadline).
 * - After leave(), listeners get the topology without this node (to hand off to its new
 *   owners), then nothing more.
 */
export class RedisMembership implements MembershipProvider {
  private readonly settings: Settings;
  private readonly keys: ReturnType<typeof membershipKeys>;
  private readonly logger: Logger;
  private readonly feed: TopologyFeed;
  private readonly redisUrl: string;
  private readonly makeClient: (role: 'command' | 'subscriber') => Redis;

  private cmd: Redis | undefined;
  private sub: Redis | undefined;
  private mode: Mode = 'idle';
  private self: Member | undefined;
  private selfJson = '';

  /** Fenced: lease lost, waiting to re-register. */
  private fenced = false;
  /** A newer incarnation holds our id: fenced for good. */
  private superseded = false;
  /** Bumped on every lease loss so late heartbeat replies from before it are ignored. */
  private leaseGeneration = 0;
  /** performance.now() after which this node no longer holds its lease. */
  private fenceAt = 0;
  /** The epoch at which this node was last (re)admitted. */
  private joinEpoch = 0;
  /** Highest epoch seen from Redis (delivered or not), passed to scripts to seed epochs. */
  private knownEpoch = 0;
  private healthy = true;
  private watching = false;
  private subscriberReadyBefore = false;

  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  private tickInFlight: Promise<void> | undefined;
  private refreshInFlight: Promise<Topology> | undefined;
  private refreshQueued: Promise<Topology> | undefined;
  private joinWaiter:
    | { resolve: (t: Topology) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
    | undefined;

  constructor(options: RedisMembershipOptions = {}) {
    this.settings = resolveSettings(options);
    this.keys = membershipKeys(this.settings.clusterName);
    this.logger = options.logger ?? stderrLogger;
    this.feed = new TopologyFeed(this.logger);
    this.redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379';
    if (options.createClient === undefined && !/^rediss?:\/\//.test(this.redisUrl)) {
      throw new RangeError(
        `redisUrl must start with redis:// or rediss://, got ${JSON.stringify(this.redisUrl)}`,
      );
    }
    const hb = this.settings.heartbeatIntervalMs;
    const connectionName = `gito-membership-${this.settings.clusterName}`;
    this.makeClient =
      options.createClient ??
      ((role) =>
        new Redis(this.redisUrl, { ...redisOptionsForMembership(role, hb), connectionName }));
  }

  /** Lease length in ms (heartbeatIntervalMs * missedHeartbeats). */
  get leaseMs(): number {
    return this.settings.leaseMs;
  }

  async join(self: Member): Promise<Topology> {
    validateMember(self);
    if (this.self !== undefined) throw new Error('membership: join() called twice');
    if (this.mode === 'left' || this.mode === 'closed') {
      throw new Error(`membership: cannot join, this provider is ${this.mode}`);
    }
    const member = copyMember(self);
    this.self = member;
    this.selfJson = JSON.stringify(member);
    try {
      await this.connect();
    } catch (err) {
      await this.close();
      throw new Error(`membership: cannot reach Redis to join: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    await this.startWatching();
    if ((this.mode as Mode) === 'closed') throw new Error('membership: closed while joining');
    const sentAt = performance.now();
    let reply: ScriptReply;
    try {
      reply = await this.mutate(JOIN, true);
    } catch (err) {
      await this.close();
      throw new Error(`membership: join failed: ${errorMessage(err)}`, { cause: err });
    }
    // close() may have run while the script was in flight.
    if ((this.mode as Mode) === 'closed') throw new Error('membership: closed while joining');
    if (reply.status === 'superseded') {
      await this.close();
      throw new Error(
        `membership: member id ${member.id} is registered by a newer incarnation; ` +
          'another process uses this node id',
      );
    }
    this.mode = 'joined';
    this.joinEpoch = reply.epoch;
    this.renewed(sentAt);
    this.startHeartbeats();
    const joined = new Promise<Topology>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.joinWaiter = undefined;
        reject(new Error(`membership: no topology within ${this.settings.joinTimeoutMs} ms`));
        void this.close();
      }, this.settings.joinTimeoutMs);
      this.joinWaiter = { resolve, reject, timer };
    });
    this.adopt(reply);
    if (reply.recoveringMs > 0) {
      this.logger.info(
        { nodeId: member.id, recoveringMs: reply.recoveringMs },
        'membership: registry is recovering (new, or Redis lost its data); waiting for it',
      );
    }
    return joined;
  }

  /**
   * Watches the topology without joining (pub/sub and polling), e.g. for a gateway or a status
   * command. Resolves with the topology read now. On failure the provider is closed.
   */
  async observe(): Promise<Topology> {
    if (this.mode === 'left' || this.mode === 'closed') {
      throw new Error(`membership: cannot observe, this provider is ${this.mode}`);
    }
    if (this.mode === 'idle') this.mode = 'observing';
    try {
      await this.connect();
      await this.startWatching();
      return await this.refresh();
    } catch (err) {
      await this.close();
      throw new Error(`membership: cannot reach Redis to observe: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  current(): Topology {
    return this.feed.current();
  }

  onChange(listener: (topology: Topology) => void): () => void {
    return this.feed.onChange(listener);
  }

  onLeaseLost(listener: () => void): () => void {
    return this.feed.onLeaseLost(listener);
  }

  /** True while this node is a member whose lease is valid on the local clock. */
  hasLease(): boolean {
    return this.mode === 'joined' && !this.fenced && performance.now() < this.fenceAt;
  }

  /**
   * Reads the topology now. Works without join() (connects on demand; close() afterwards), e.g.
   * for `gito cluster status`. Rejects when Redis is unreachable. Resolves with current(): a
   * topology this node may not act on (recovering registry, fenced node) is not adopted.
   */
  refresh(): Promise<Topology> {
    if (this.mode === 'left' || this.mode === 'closed') return Promise.resolve(this.current());
    if (this.refreshQueued !== undefined) return this.refreshQueued;
    const inFlight = this.refreshInFlight;
    if (inFlight !== undefined) {
      // The read in flight may have started before the caller's change: read once more after it.
      const queued = inFlight
        .catch(() => undefined)
        .then(() => {
          this.refreshQueued = undefined;
          return this.startRefresh();
        });
      this.refreshQueued = queued;
      return queued;
    }
    return this.startRefresh();
  }

  async leave(): Promise<void> {
    if (this.mode === 'left' || this.mode === 'closed') return;
    if (this.mode !== 'joined') {
      await this.close();
      return;
    }
    this.mode = 'left';
    this.stopTimers();
    this.rejectJoinWaiter(new Error('membership: left while joining'));
    await this.tickInFlight;
    try {
      const reply = await this.mutate(LEAVE, true);
      if (reply.members !== undefined && reply.recoveringMs === 0) {
        this.feed.offer(makeTopology(reply.epoch, reply.members));
      }
      this.logger.info({ nodeId: this.self?.id, epoch: reply.epoch }, 'membership: left');
    } catch (err) {
      throw new Error(
        `membership: leave failed (${errorMessage(err)}); the others remove this node when its lease expires`,
        { cause: err },
      );
    } finally {
      this.disconnect();
      this.feed.clearListeners();
    }
  }

  async close(): Promise<void> {
    if (this.mode === 'closed') return;
    this.mode = 'closed';
    this.stopTimers();
    this.rejectJoinWaiter(new Error('membership: closed while joining'));
    this.disconnect();
    this.feed.clearListeners();
  }

  // --- connections -------------------------------------------------------------------------

  private async connect(): Promise<void> {
    if (this.cmd === undefined) {
      const cmd = this.makeClient('command');
      cmd.on('error', (err: Error) => this.logger.debug({ err }, 'membership: redis error'));
      this.cmd = cmd;
    }
    await ensureReady(this.cmd, Math.max(2000, this.settings.leaseMs));
  }

  /** Starts polling and pub/sub; resolves once subscribed (or the subscription failed). */
  private async startWatching(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    this.pollTimer = setInterval(() => this.requestRefresh(), this.settings.pollIntervalMs);
    if (!this.settings.subscribe) return;
    const sub = this.makeClient('subscriber');
    this.sub = sub;
    sub.on('error', (err: Error) => this.logger.debug({ err }, 'membership: subscriber error'));
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.keys.channel) return;
      const epoch = Number(message);
      if (!(epoch <= this.current().epoch)) this.requestRefresh();
    });
    sub.on('ready', () => {
      // Messages published while the subscriber was disconnected are lost: read once.
      if (this.subscriberReadyBefore) this.requestRefresh();
      this.subscriberReadyBefore = true;
    });
    // Subscribed before joining, so that no change published after our join is missed. A
    // failure is not fatal: ioredis resubscribes on reconnect and polling covers the gap.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error('subscribe timed out')), this.settings.leaseMs);
    });
    try {
      await Promise.race([sub.subscribe(this.keys.channel), timeout]);
    } catch (err) {
      this.logger.warn({ err }, 'membership: subscribe failed; relying on polling until it works');
    } finally {
      clearTimeout(timer);
    }
  }

  private disconnect(): void {
    this.watching = false;
    for (const client of [this.cmd, this.sub]) {
      if (client === undefined) continue;
      try {
        client.disconnect();
      } catch (err) {
        this.logger.debug({ err }, 'membership: disconnect failed');
      }
    }
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.fenceTimer);
    this.heartbeatTimer = undefined;
    this.pollTimer = undefined;
    this.fenceTimer = undefined;
  }

  // --- scripts -----------------------------------------------------------------------------

  private async run(script: Script, args: readonly (string | number)[]): Promise<unknown> {
    const cmd = this.cmd;
    if (cmd === undefined) throw new Error('membership: not connected');
    const keys = [this.keys.members, this.keys.leases, this.keys.meta];
    try {
      return await cmd.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // After a Redis restart the script cache is empty.
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
        return await cmd.eval(script.lua, keys.length, ...keys, ...args);
      }
      throw err;
    }
  }

  private async mutate(script: Script, withMembers: boolean): Promise<ScriptReply> {
    const self = this.self;
    if (self === undefined) throw new Error('membership: no member to register');
    const reply = parseReply(
      await this.run(script, [
        this.knownEpoch,
        this.settings.recoveryGraceMs,
        this.keys.channel,
        self.id,
        this.selfJson,
        self.incarnation,
        this.settings.leaseMs,
      ]),
      this.logger,
    );
    this.markHealthy();
    if (reply.epoch > this.knownEpoch) this.knownEpoch = reply.epoch;
    return withMembers ? reply : { ...reply, members: undefined };
  }

  // --- topology ----------------------------------------------------------------------------

  private startRefresh(): Promise<Topology> {
    const read = (async () => {
      await this.connect();
      const reply = parseReply(await this.run(READ, []), this.logger);
      this.markHealthy();
      if (reply.epoch > this.knownEpoch) this.knownEpoch = reply.epoch;
      if (reply.status === 'ok') this.adopt(reply);
      return this.current();
    })();
    const tracked = read.finally(() => {
      if (this.refreshInFlight === tracked) this.refreshInFlight = undefined;
    });
    this.refreshInFlight = tracked;
    return tracked;
  }

  private requestRefresh(): void {
    if (this.mode === 'left' || this.mode === 'closed') return;
    this.refresh().catch((err: unknown) => this.onRedisError(err, 'refresh'));
  }

  /** Delivers a topology read from Redis if this node may act on it. */
  private adopt(reply: ScriptReply): void {
    if (reply.members === undefined || reply.recoveringMs > 0) return;
    if (this.mode === 'left' || this.mode === 'closed') return;
    // While join() runs, only the join's own reply may be delivered (after mode = 'joined').
    if (this.self !== undefined && this.mode !== 'joined') return;
    const topology = makeTopology(reply.epoch, reply.members);
    if (this.mode === 'joined') {
      if (this.fenced || topology.epoch < this.joinEpoch) return;
      const self = this.self;
      const present = topology.members.some(
        (m) => m.id === self?.id && m.incarnation === self.incarnation,
      );
      if (!present) {
        this.loseLease(`not in the topology of epoch ${topology.epoch}`);
        return;
      }
    }
    this.feed.offer(topology);
    const waiter = this.joinWaiter;
    if (waiter !== undefined && this.mode === 'joined' && !this.fenced) {
      this.joinWaiter = undefined;
      clearTimeout(waiter.timer);
      waiter.resolve(this.current());
    }
  }

  private rejectJoinWaiter(err: Error): void {
    const waiter = this.joinWaiter;
    if (waiter === undefined) return;
    this.joinWaiter = undefined;
    clearTimeout(waiter.timer);
    waiter.reject(err);
  }

  // --- lease -------------------------------------------------------------------------------

  private startHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.tick(), this.settings.heartbeatIntervalMs);
  }

  private tick(): void {
    if (this.mode !== 'joined' || this.tickInFlight !== undefined) return;
    this.checkFence();
    if (this.superseded) return;
    const run = this.fenced ? this.rejoin() : this.heartbeat();
    this.tickInFlight = run
      .catch((err: unknown) => this.onRedisError(err, this.fenced ? 'rejoin' : 'heartbeat'))
      .finally(() => {
        this.tickInFlight = undefined;
      });
  }

  private async heartbeat(): Promise<void> {
    const generation = this.leaseGeneration;
    const sentAt = performance.now();
    const reply = await this.mutate(HEARTBEAT, false);
    if (this.mode !== 'joined' || generation !== this.leaseGeneration) return;
    if (reply.status === 'ok' || reply.status === 'restored') {
      if (reply.status === 'restored') {
        this.logger.info(
          { nodeId: this.self?.id },
          'membership: Redis had lost this node; re-registered during recovery',
        );
      }
      this.renewed(sentAt);
      if (reply.recoveringMs === 0 && reply.epoch > this.current().epoch) this.requestRefresh();
    } else if (reply.status === 'superseded') {
      this.supersede();
    } else {
      this.loseLease('no longer registered in Redis (lease expired there)');
    }
  }

  private async rejoin(): Promise<void> {
    const sentAt = performance.now();
    const reply = await this.mutate(JOIN, true);
    if (this.mode !== 'joined' || !this.fenced) return;
    if (reply.status === 'superseded') {
      this.supersede();
      return;
    }
    this.fenced = false;
    this.joinEpoch = reply.epoch;
    this.renewed(sentAt);
    this.logger.info(
      { nodeId: this.self?.id, epoch: reply.epoch },
      'membership: re-registered after losing the lease',
    );
    this.adopt(reply);
  }

  /** A renewal sent at `sentAt` succeeded: Redis keeps the lease until at least sentAt + lease. */
  private renewed(sentAt: number): void {
    this.fenceAt = sentAt + this.settings.leaseMs - this.settings.safetyMarginMs;
    clearTimeout(this.fenceTimer);
    const wait = this.fenceAt - performance.now();
    if (wait <= 0) {
      this.checkFence();
      return;
    }
    this.fenceTimer = setTimeout(() => this.checkFence(), Math.ceil(wait));
  }

  private checkFence(): void {
    if (this.mode !== 'joined' || this.fenced) return;
    if (performance.now() >= this.fenceAt) {
      this.loseLease(
        `lease not renewed within ${this.settings.leaseMs - this.settings.safetyMarginMs} ms`,
      );
    }
  }

  private loseLease(reason: string): void {
    if (this.mode !== 'joined' || this.fenced) return;
    this.fenced = true;
    this.leaseGeneration += 1;
    clearTimeout(this.fenceTimer);
    this.fenceTimer = undefined;
    this.logger.warn(
      { nodeId: this.self?.id, reason },
      'membership: lease lost; this node must stop hosting actors',
    );
    this.feed.fireLeaseLost();
  }

  private supersede(): void {
    this.loseLease('a newer incarnation registered this node id');
    this.superseded = true;
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.logger.error(
      { nodeId: this.self?.id },
      'membership: another process registered this node id with a newer incarnation; stopping',
    );
  }

  // --- health ------------------------------------------------------------------------------

  private markHealthy(): void {
    if (this.healthy) return;
    this.healthy = true;
    this.logger.info(
      { clusterName: this.settings.clusterName },
      'membership: Redis reachable again',
    );
  }

  private onRedisError(err: unknown, during: string): void {
    if (this.mode === 'left' || this.mode === 'closed') return;
    if (this.healthy) {
      this.healthy = false;
      this.logger.warn(
        { err, during, clusterName: this.settings.clusterName },
        'membership: Redis unreachable; keeping the last topology',
      );
    } else {
      this.logger.debug({ err, during }, 'membership: Redis still unreachable');
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves when the client is ready; connects a lazy client; rejects after `timeoutMs`. */
async function ensureReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait') {
    await client.connect();
    return;
  }
  if (client.status === 'end') throw new Error('Redis connection was closed');
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onReady = () => done();
    const onEnd = () => done(new Error('Redis connection was closed'));
    const timer = setTimeout(
      () => done(new Error(`Redis not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.on('ready', onReady);
    client.on('end', onEnd);
  });
}
