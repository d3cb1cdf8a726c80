/**
 * The publisher of the ingest benchmark, run as a child process (`fork` of this file): one mqtt.js
 * client publishing at QoS 1 as fast as it can, keeping up to `window` messages in flight (sent,
 * PUBACK not yet received). It connects at start and then publishes one batch per `go` it gets
 * over IPC, reporting the time of its first publish and of the last PUBACK (epoch ms with
 * sub-millisecond precision, comparable across processes on one machine).
 *
 *   parent -> child: {type: 'go', count, devices, tsBase, window, seed}
 *   child -> parent: {type: 'ready'} | {type: 'started', at} | {type: 'done', at, sent, cpuMs}
 *                    | {type: 'error', message}
 */
import mqtt from 'mqtt';
import { Lcg, payloadText, topicOf, tsOf } from './workload.ts';

export interface PublishOrder {
  readonly type: 'go';
  readonly count: number;
  readonly devices: number;
  readonly tsBase: number;
  readonly window: number;
  readonly seed: number;
  /** Messages per second to pace at; 0 or absent: as fast as the window allows. */
  readonly rate?: number;
}

export type PublisherReport =
  | { readonly type: 'ready' }
  | { readonly type: 'started'; readonly at: number }
  | {
      readonly type: 'done';
      readonly at: number;
      readonly sent: number;
      /** CPU time of this process during the batch (user + system), ms. */
      readonly cpuMs: number;
    }
  | { readonly type: 'error'; readonly message: string };

const nowMs = () => performance.timeOrigin + performance.now();

function send(report: PublisherReport): void {
  process.send?.(report);
}

async function main(): Promise<void> {
  const url = process.argv[2];
  const clientId = process.argv[3] ?? `gito-bench-pub-${process.pid}`;
  if (url === undefined || process.send === undefined) {
    throw new Error('publisher.ts is forked by bench/ingest (argv: url clientId)');
  }
  const client = await mqtt.connectAsync(url, {
    clientId,
    clean: true,
    protocolVersion: 4,
    reconnectPeriod: 0,
    keepalive: 60,
  });
  client.on('error', (err) => send({ type: 'error', message: err.message }));
  let topics: string[] = [];
  let topicsFor = 0;

  const run = (order: PublishOrder): Promise<void> =>
    new Promise((resolve) => {
      if (topicsFor !== order.devices) {
        topics = Array.from({ length: order.devices }, (_, i) => topicOf(i, order.devices));
        topicsFor = order.devices;
      }
      const rnd = new Lcg(order.seed);
      const cpu0 = process.cpuUsage();
      let next = 0;
      let acked = 0;
      let inFlight = 0;
      let pumping = false;
      const rate = order.rate ?? 0;
      let t0 = 0;
      let timer: NodeJS.Timeout | undefined;
      const onAck = (err?: Error | null) => {
        if (err) {
          send({ type: 'error', message: err.message });
          return;
        }
        inFlight--;
        acked++;
        if (acked === order.count) {
          const at = nowMs();
          const cpu = process.cpuUsage(cpu0);
          send({ type: 'done', at, sent: acked, cpuMs: (cpu.user + cpu.system) / 1000 });
          resolve();
          return;
        }
        if (!pumping) pump();
      };
      const pump = () => {
        pumping = true;
        let limit = order.count;
        if (rate > 0) {
          limit = Math.min(order.count, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
          if (next >= limit && next < order.count && timer === undefined) {
            timer = setTimeout(() => {
              timer = undefined;
              if (!pumping) pump();
            }, 1);
          }
        }
        while (inFlight < order.window && next < limit) {
          const i = next++;
          inFlight++;
          const device = i % order.devices;
          client.publish(
            topics[device]!,
            payloadText(tsOf(i, order.devices, order.tsBase), rnd),
            { qos: 1 },
            onAck,
          );
        }
        pumping = false;
      };
      send({ type: 'started', at: nowMs() });
      t0 = performance.now();
      pump();
    });

  process.on('message', (msg: PublishOrder | { type: 'exit' }) => {
    if (msg.type === 'exit') {
      client.end(true, () => process.exit(0));
      return;
    }
    void run(msg);
  });
  // The parent going away (killed, crashed) ends this process too.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
