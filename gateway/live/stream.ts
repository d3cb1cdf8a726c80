import websocket from '@fastify/websocket';
import type { Pool } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import { authOf } from '../auth/hooks.ts';
import type { ApiResource } from '../routes/context.ts';
import type { LiveEvent, LiveEvents } from './events.ts';
import { LiveFilter, LiveFilterError, type LiveFilterSpec, parseFilter } from './filter.ts';

/** WebSocket close codes used by the stream. */
export const CLOSE_POLICY = 1008;
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** What the stream counts (exported as gito_live_* by registerLiveMetrics). */
export class LiveStreamStats {
  connections = 0;
  eventsSent = 0;
  droppedSlow = 0;
  droppedBadMessages = 0;
  badMessages = 0;
}

/** Resolves group names (or ids) of a tenant to their device keys; unknown ones are missing. */
export type GroupResolver = (
  tenantId: string,
  groups: readonly string[],
) => Promise<Map<string, string[]>>;

export interface LiveStreamOptions {
  readonly events: LiveEvents;
  /** Bytes waiting to be sent to a client beyond which it is dropped; default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** After closing a slow client, how long it may take to acknowledge before it is cut; 5 s. */
  readonly closeGraceMs?: number;
  /** Largest client message; default 16 KiB. */
  readonly maxMessageBytes?: number;
  /** Malformed client messages tolerated per connection before it is closed; default 20. */
  readonly maxBadMessages?: number;
  /** Default: device_groups and device_group_members of the tenant. */
  readonly resolveGroups?: GroupResolver;
  readonly stats?: LiveStreamStats;
  readonly registry?: Registry;
}

export function registerLiveMetrics(registry: Registry, stats: LiveStreamStats): void {
  if (registry.getSingleMetric('gito_live_connections') !== undefined) return;
  new Gauge({
    name: 'gito_live_connections',
    help: 'Open WebSocket connections of the live stream',
    registers: [registry],
    collect() {
      this.set(stats.connections);
    },
  });
  new Counter({
    name: 'gito_live_events_sent_total',
    help: 'Live events pushed to WebSocket clients',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.eventsSent);
    },
  });
  new Counter({
    name: 'gito_live_dropped_total',
    help: 'Live stream clients closed by the server, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ reason: 'slow' }, stats.droppedSlow);
      this.inc({ reason: 'bad-messages' }, stats.droppedBadMessages);
    },
  });
  new Counter({
    name: 'gito_live_bad_messages_total',
    help: 'Malformed or refused messages from live stream clients',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.badMessages);
    },
  });
}

export function groupResolver(pool: Pool): GroupResolver {
  return async (tenantId, groups) => {
    const { rows } = await pool.query<{ group: string; devices: string[] }>(
      `SELECT q.name AS group,
              coalesce(array_agg(d.external_id) FILTER (WHERE d.id IS NOT NULL), '{}') AS devices
         FROM unnest($2::text[]) AS q(name)
         JOIN device_groups g ON g.tenant_id = $1 AND (g.name = q.name OR g.id::text = q.name)
         LEFT JOIN device_group_members m ON m.group_id = g.id
         LEFT JOIN devices d ON d.tenant_id = g.tenant_id AND d.id = m.device_id
        GROUP BY q.name`,
      [tenantId, groups],
    );
    return new Map(rows.map((r) => [r.group, r.devices]));
  };
}

/** The event as a client sees it (no tenant id: a connection only ever sees its own). */
function view(event: LiveEvent): Record<string, unknown> {
  const { tenantId: _tenant, at, ...rest } = event;
  return { ...rest, at: new Date(at).toISOString() };
}

/**
 * GET /api/v1/stream: a WebSocket of the caller's tenant's device status changes and alert
 * events. Authenticated like every route (Authorization or X-API-Key header, or
 * `?access_token=` since browsers cannot set headers on a WebSocket), role viewer or above.
 *
 * Protocol (JSON text messages):
 *   client: {"type":"subscribe","filter":{"events":["alert.*"],"devices":[...],"groups":[...],
 *            "severities":[...] | "minSeverity":"major"}}   (replaces the previous filter)
 *           {"type":"unsubscribe"}   {"type":"ping"}
 *   server: {"type":"subscribed","filter":{...}}  {"type":"unsubscribed"}  {"type":"pong"}
 *           {"type":"event","event":{"type":"device.status","at":"...","deviceKey":"...",...}}
 *           {"type":"error","field":"filter.severities[0]","message":"..."}
 *
 * A client that does not keep up (more than maxBufferedBytes waiting) is closed with 1013 and a
 * reason rather than buffered for without bound; one that keeps sending malformed messages is
 * closed with 1008.
 */
export function liveResource(options: LiveStreamOptions): ApiResource {
  const stats = options.stats ?? new LiveStreamStats();
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const graceMs = options.closeGraceMs ?? 5_000;
  const maxMessage = options.maxMessageBytes ?? 16 * 1024;
  const maxBad = options.maxBadMessages ?? 20;
  if (options.registry !== undefined) registerLiveMetrics(options.registry, stats);

  return {
    tag: 'live',
    description: 'Live device status and alert events over WebSocket',
    async routes(app, ctx) {
      if (!app.hasDecorator('websocketServer')) {
        await app.register(websocket, { options: { maxPayload: maxMessage } });
      }
      const resolveGroups = options.resolveGroups ?? groupResolver(ctx.pool);
      app.get(
        '/stream',
        {
          websocket: true,
          config: { role: 'viewer', tokenInQuery: true },
          // An upgrade refused before @fastify/websocket saw it (401/403 from the authentication
          // hook, which runs first) leaves the raw socket to us: close it once the answer is out,
          // or it stays half-open (and keeps the server from closing).
          onResponse: (request, _reply, done) => {
            if (request.ws !== true && /websocket/i.test(request.headers.upgrade ?? '')) {
              request.raw.socket.destroy();
            }
            done();
          },
          schema: {
            summary: 'Live stream (WebSocket): subscribe to device status and alert events',
            description:
              'Upgrade to WebSocket. Send {"type":"subscribe","filter":{...}}; see docs/audit-and-gdpr.md and gateway/live/stream.ts for the protocol.',
          },
        },
        (socket, request) => {
          const tenantId = authOf(request).tenantId;
          const connection = new LiveConnection(socket, tenantId, {
            events: options.events,
            resolveGroups,
            stats,
            maxBuffered,
            graceMs,
            maxMessage,
            maxBad,
            log: (msg, err) => request.log.warn({ err }, msg),
          });
          connection.start();
        },
      );
    },
  };
}

interface ConnectionSettings {
  readonly events: LiveEvents;
  readonly resolveGroups: GroupResolver;
  readonly stats: LiveStreamStats;
  readonly maxBuffered: number;
  readonly graceMs: number;
  readonly maxMessage: number;
  readonly maxBad: number;
  readonly log: (message: string, err?: unknown) => void;
}

/** One client: its filter, its bus subscription, its send discipline. */
class LiveConnection {
  private filter: LiveFilter | undefined;
  private unsubscribe: (() => void) | undefined;
  private closing = false;
  private badMessages = 0;
  /** Increases with every subscribe: a slow group lookup never overrides a later request. */
  private version = 0;

  constructor(
    private readonly socket: WebSocket,
    private readonly tenantId: string,
    private readonly settings: ConnectionSettings,
  ) {}

  start(): void {
    this.settings.stats.connections++;
    this.socket.on('message', (data, isBinary) => {
      void this.onMessage(data, isBinary).catch((err: unknown) => {
        this.settings.log('live stream message failed', err);
        this.send({ type: 'error', field: null, message: 'internal error' });
      });
    });
    this.socket.on('close', () => {
      this.settings.stats.connections--;
      this.closing = true;
      this.stopListening();
    });
    this.socket.on('error', () => {
      // 'close' follows; nothing to add (the client went away mid-frame).
    });
  }

  private async onMessage(data: unknown, isBinary: boolean): Promise<void> {
    if (this.closing) return;
    let message: { type?: unknown; filter?: unknown };
    try {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      if (isBinary) throw new LiveFilterError('message', 'must be JSON text');
      if (Buffer.byteLength(text) > this.settings.maxMessage) {
        throw new LiveFilterError('message', `must be at most ${this.settings.maxMessage} bytes`);
      }
      const parsed: unknown = JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new LiveFilterError('message', 'must be a JSON object');
      }
      message = parsed as typeof message;
      switch (message.type) {
        case 'subscribe':
          await this.subscribe(parseFilter(message.filter));
          return;
        case 'unsubscribe':
          this.version++;
          this.filter = undefined;
          this.stopListening();
          this.send({ type: 'unsubscribed' });
          return;
        case 'ping':
          this.send({ type: 'pong' });
          return;
        default:
          throw new LiveFilterError('type', 'must be subscribe, unsubscribe or ping');
      }
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof LiveFilterError) {
        this.refuse(err instanceof LiveFilterError ? err.field : 'message', err.message);
        return;
      }
      throw err;
    }
  }

  private refuse(field: string, message: string): void {
    this.settings.stats.badMessages++;
    this.badMessages++;
    if (this.badMessages > this.settings.maxBad) {
      this.settings.stats.droppedBadMessages++;
      this.close(CLOSE_POLICY, 'too many malformed messages');
      return;
    }
    this.send({ type: 'error', field, message });
  }

  private async subscribe(spec: LiveFilterSpec): Promise<void> {
    const version = ++this.version;
    let devices: string[] = [];
    if (spec.groups !== undefined && spec.groups.length > 0) {
      const resolved = await this.settings.resolveGroups(this.tenantId, spec.groups);
      const missing = spec.groups.findIndex((g) => !resolved.has(g));
      if (missing >= 0) {
        throw new LiveFilterError(
          `filter.groups[${missing}]`,
          'is not a device group of this tenant',
        );
      }
      devices = [...resolved.values()].flat();
    }
    if (version !== this.version || this.closing) return;
    this.filter = new LiveFilter(spec, devices);
    this.unsubscribe ??= this.settings.events.subscribe(this.tenantId, (event) =>
      this.onEvent(event),
    );
    this.send({ type: 'subscribed', filter: spec });
  }

  private onEvent(event: LiveEvent): void {
    // The bus is per tenant; checked again so that a bridge bug can never leak across tenants.
    if (event.tenantId !== this.tenantId || this.filter?.matches(event) !== true) return;
    if (this.send({ type: 'event', event: view(event) })) this.settings.stats.eventsSent++;
  }

  /** Sends unless the client is behind; a client behind is closed instead. */
  private send(message: Record<string, unknown>): boolean {
    if (this.closing || this.socket.readyState !== this.socket.OPEN) return false;
    if (this.socket.bufferedAmount > this.settings.maxBuffered) {
      this.settings.stats.droppedSlow++;
      this.close(
        CLOSE_TRY_AGAIN_LATER,
        `too slow: more than ${this.settings.maxBuffered} bytes waiting; reconnect`,
      );
      return false;
    }
    this.socket.send(JSON.stringify(message));
    return true;
  }

  private close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.stopListening();
    this.socket.close(code, reason);
    // The close frame waits behind what is buffered; a client that never reads is cut off.
    const timer = setTimeout(() => this.socket.terminate(), this.settings.graceMs);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  private stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
