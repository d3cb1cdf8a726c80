import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { InProcessLiveEvents, type LiveEvent } from '../../gateway/live/events.ts';
import { LiveStreamStats, liveResource } from '../../gateway/live/stream.ts';
import { createKey, createTenant, type Harness, startHarness } from './audit-harness.ts';

const events = new InProcessLiveEvents();
const stats = new LiveStreamStats();
let h: Harness;
let wsUrl: string;
let acme: string;
let beta: string;

/** A connected client and the messages it received, in order. */
class Client {
  private readonly queue: unknown[] = [];
  private waiting: ((message: unknown) => void) | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message: unknown = JSON.parse(String(data));
      if (this.waiting !== undefined) {
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve(message);
      } else this.queue.push(message);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
  }

  // biome-ignore lint/suspicious/noExplicitAny: test convenience: messages are checked field by field
  next(): Promise<any> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  // biome-ignore lint/suspicious/noExplicitAny: see next()
  async subscribe(filter: unknown): Promise<any> {
    this.send({ type: 'subscribe', filter });
    return this.next();
  }
}

function open(path: string, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}${path}`, { headers });
    const client = new Client(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      // Settles once the server has closed the refused connection (a socket left half-open
      // would hang here, and keep the server from closing).
      res.resume();
      res.socket.once('close', () => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    ws.once('error', reject);
  });
}

const connect = (key: string) => open('/api/v1/stream', { authorization: `Bearer ${key}` });

function status(tenantId: string, deviceKey: string, extra: Partial<LiveEvent> = {}): LiveEvent {
  return {
    type: 'device.status',
    tenantId,
    at: Date.UTC(2026, 0, 1),
    deviceKey,
    data: { status: 'offline' },
    ...extra,
  };
}

function alert(
  tenantId: string,
  severity: LiveEvent['severity'],
  deviceKey: string,
  extra: Partial<LiveEvent> = {},
): LiveEvent {
  return {
    type: 'alert.opened',
    tenantId,
    at: Date.UTC(2026, 0, 1),
    deviceKey,
    severity,
    data: { alertId: '1' },
    ...extra,
  };
}

beforeAll(async () => {
  h = await startHarness({
    resources: [liveResource({ events, stats, maxBufferedBytes: 64 * 1024, closeGraceMs: 30_000 })],
    listen: true,
  });
  wsUrl = h.url!.replace('http:', 'ws:');
  await createTenant(h, 'acme');
  await createTenant(h, 'beta');
  acme = (await createKey(h, 'acme', 'viewer')).key;
  beta = (await createKey(h, 'beta', 'viewer')).key;
  const pool = h.db.pool;
  await pool.query(
    `INSERT INTO devices (tenant_id, external_id) VALUES ('acme', 'pump-1'), ('acme', 'pump-2'),
            ('acme', 'pump-3'), ('beta', 'pump-3')`,
  );
  await pool.query(
    `INSERT INTO device_groups (tenant_id, name) VALUES ('acme', 'floor-2'), ('beta', 'beta-only')`,
  );
  await pool.query(
    `INSERT INTO device_group_members (tenant_id, group_id, device_id)
     SELECT 'acme', g.id, d.id FROM device_groups g, devices d
      WHERE g.name = 'floor-2' AND d.tenant_id = 'acme' AND d.external_id = 'pump-3'`,
  );
}, 30_000);
afterAll(() => h?.close());

describe('live stream', () => {
  it('refuses unauthenticated and device clients; accepts a header or ?access_token=', async () => {
    await expect(open('/api/v1/stream')).rejects.toThrow('HTTP 401');
    await expect(connect('gito_nope_xxxxxxxxxxxxxxxxxxxxxxxxxxxx')).rejects.toThrow('HTTP 401');
    const device = (await createKey(h, 'acme', 'device')).key;
    await expect(connect(device)).rejects.toThrow('HTTP 403');

    const viaQuery = await open(`/api/v1/stream?access_token=${encodeURIComponent(acme)}`);
    viaQuery.send({ type: 'ping' });
    expect(await viaQuery.next()).toEqual({ type: 'pong' });
    viaQuery.ws.close();
    await viaQuery.closed;
  });

  it('delivers only the subscriber tenant’s events', async () => {
    const a = await connect(acme);
    const b = await connect(beta);
    expect(await a.subscribe({})).toEqual({ type: 'subscribed', filter: {} });
    expect(await b.subscribe({})).toEqual({ type: 'subscribed', filter: {} });
    events.publish(status('acme', 'pump-1'));
    events.publish(status('beta', 'pump-3'));
    events.publish(status('acme', 'fence-a'));
    events.publish(status('beta', 'fence-b'));
    // Messages arrive in order: anything leaked would come before the fence.
    expect((await a.next()).event).toEqual({
      type: 'device.status',
      at: '2026-01-01T00:00:00.000Z',
      deviceKey: 'pump-1',
      data: { status: 'offline' },
    });
    expect((await a.next()).event.deviceKey).toBe('fence-a');
    expect((await b.next()).event.deviceKey).toBe('pump-3');
    expect((await b.next()).event.deviceKey).toBe('fence-b');
    a.ws.close();
    b.ws.close();
    await Promise.all([a.closed, b.closed]);
  });

  it('filters by event type, device, group and severity', async () => {
    const c = await connect(acme);
    const ack = await c.subscribe({
      events: ['device.status', 'alert.*'],
      devices: ['pump-1'],
      groups: ['floor-2'],
      minSeverity: 'major',
    });
    expect(ack.type).toBe('subscribed');
    const published = [
      status('acme', 'pump-1'), // device
      status('acme', 'pump-2'), // not in devices or group
      status('acme', 'pump-3'), // via group floor-2
      alert('acme', 'critical', 'pump-1'),
      alert('acme', 'minor', 'pump-1'), // below major
      alert('acme', 'critical', 'pump-9', { groups: ['floor-2'] }), // group named by publisher
      alert('acme', 'critical', 'pump-9', { devices: ['pump-3', 'pump-8'] }), // aggregate
      { ...alert('acme', 'critical', 'pump-1'), type: 'rule.changed' as 'alert.x' }, // type
      status('acme', 'pump-1', { data: { fence: true } }),
    ];
    for (const event of published) events.publish(event);
    const received: unknown[] = [];
    for (;;) {
      const message = await c.next();
      received.push([message.event.type, message.event.deviceKey, message.event.severity]);
      if (message.event.data.fence === true) break;
    }
    expect(received).toEqual([
      ['device.status', 'pump-1', undefined],
      ['device.status', 'pump-3', undefined],
      ['alert.opened', 'pump-1', 'critical'],
      ['alert.opened', 'pump-9', 'critical'],
      ['alert.opened', 'pump-9', 'critical'],
      ['device.status', 'pump-1', undefined],
    ]);

    expect((await c.subscribe({ events: ['alert.resolved'], severities: ['info'] })).type).toBe(
      'subscribed',
    );
    events.publish(alert('acme', 'critical', 'pump-1', { type: 'alert.resolved' }));
    events.publish(alert('acme', 'info', 'pump-2', { type: 'alert.resolved' }));
    expect((await c.next()).event).toMatchObject({ deviceKey: 'pump-2', severity: 'info' });
    c.send({ type: 'unsubscribe' });
    expect(await c.next()).toEqual({ type: 'unsubscribed' });
    c.ws.close();
    await c.closed;
  });

  it('names the offending field of a bad message, and closes a client that keeps sending them', async () => {
    const c = await connect(acme);
    c.send('not json');
    expect(await c.next()).toMatchObject({ type: 'error', field: 'message' });
    c.send({ type: 'dance' });
    expect(await c.next()).toMatchObject({ type: 'error', field: 'type' });
    expect(await c.subscribe({ severities: ['urgent'] })).toMatchObject({
      type: 'error',
      field: 'filter.severities[0]',
    });
    expect(await c.subscribe({ devices: 'pump-1' })).toMatchObject({ field: 'filter.devices' });
    expect(await c.subscribe({ colour: 'red' })).toMatchObject({ field: 'filter.colour' });
    expect(await c.subscribe({ groups: ['floor-2', 'beta-only'] })).toMatchObject({
      type: 'error',
      field: 'filter.groups[1]',
      message: expect.stringMatching(/not a device group of this tenant/),
    });
    for (let i = 0; i < 30; i++) c.send('{');
    expect(await c.closed).toEqual({ code: 1008, reason: 'too many malformed messages' });
  });

  it('drops a client that does not keep up, with 1013 and a reason', async () => {
    const slow = await connect(acme);
    await slow.subscribe({});
    slow.ws.pause();
    const dropped = stats.droppedSlow;
    const payload = 'x'.repeat(16 * 1024);
    // The server writes until the socket buffers fill up behind the paused reader.
    for (let i = 0; i < 100_000 && stats.droppedSlow === dropped; i++) {
      events.publish(status('acme', 'pump-1', { data: { payload } }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(stats.droppedSlow).toBe(dropped + 1);
    expect(events.listenerCount('acme')).toBe(0);
    slow.ws.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/too slow/);
  });
});
