/**
 * The fake webhook receiver of `npm run bench:notify`, in its own process (forked by
 * receiver-client.ts) so that parsing the requests costs neither Gito's event loop nor
 * Alertmanager's CPU budget, the same for both.
 *
 * HTTP on 127.0.0.1 (port 0), answering 200 to every POST. Each arrival is stamped with the
 * wall clock (performance.timeOrigin + performance.now(), comparable across processes):
 * - `/gito/<group>`: a Gito webhook; the alert id comes from the Idempotency-Key
 *   `alert:{id}:step:{n}:cp:{contactPoint}` (the body is not parsed, nor the signature checked:
 *   a counting receiver, as for Alertmanager);
 * - `/am`: an Alertmanager webhook; each alert's `bench_id` label (one alert per notification
 *   with group_by ['...'], but every alert of the body counts).
 *
 * The parent drives it over IPC: `{type: 'take'}` answers the arrivals since the last take and
 * starts counting again, `{type: 'count'}` how many arrived since the last take. It exits when the parent disconnects.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverRequest = { readonly type: 'take' } | { readonly type: 'count' };

export type ReceiverReply =
  | { readonly type: 'ready'; readonly port: number }
  | {
      readonly type: 'arrivals';
      /** Alert key (Gito alert id or Alertmanager bench_id) and arrival wall time (ms). */
      readonly keys: string[];
      readonly at: number[];
      /** Requests that carried no key we could read. */
      readonly unkeyed: number;
    }
  | { readonly type: 'count'; readonly count: number; readonly requests: number };

const wallNow = (): number => performance.timeOrigin + performance.now();

let keys: string[] = [];
let at: number[] = [];
let unkeyed = 0;
let count = 0;
let requests = 0;

function record(key: string | undefined, t: number): void {
  if (key === undefined || key === '') {
    unkeyed++;
    return;
  }
  keys.push(key);
  at.push(t);
  count++;
}

function gitoAlertId(req: IncomingMessage): string | undefined {
  const header = req.headers['idempotency-key'];
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined || !key.startsWith('alert:')) return undefined;
  const end = key.indexOf(':', 6);
  return end < 0 ? undefined : key.slice(6, end);
}

function onRequest(req: IncomingMessage, res: ServerResponse): void {
  const t = wallNow();
  requests++;
  const url = req.url ?? '';
  if (url.startsWith('/gito/')) {
    // Stamped on the headers: the body is not needed.
    record(gitoAlertId(req), t);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    return;
  }
  if (url.startsWith('/am')) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          alerts?: { labels?: Record<string, string> }[];
        };
        for (const a of body.alerts ?? []) record(a.labels?.bench_id, t);
      } catch {
        unkeyed++;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    return;
  }
  unkeyed++;
  req.resume();
  req.on('end', () => res.writeHead(404).end());
}

const server = createServer({ keepAlive: true }, onRequest);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', port } satisfies ReceiverReply);
});

process.on('message', (m: ReceiverRequest) => {
  if (m.type === 'take') {
    const reply: ReceiverReply = { type: 'arrivals', keys, at, unkeyed };
    keys = [];
    at = [];
    unkeyed = 0;
    count = 0;
    requests = 0;
    process.send?.(reply);
  } else if (m.type === 'count') {
    process.send?.({ type: 'count', count, requests } satisfies ReceiverReply);
  }
});
// The parent went away (finished, crashed or killed): nothing left to receive for.
process.on('disconnect', () => process.exit(0));
