import { once } from 'node:events';
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Base of the HTTP fakes: a server on 127.0.0.1 (port 0), every request recorded, and a
 * switchable behaviour. `behave()` sets what every request gets; `script()` queues behaviours
 * for the next requests (then back to the standing one).
 */

export type Behaviour =
  | { readonly mode: 'ok' }
  /** Answer with this status (and Retry-After, body) instead of the fake's normal reply. */
  | {
      readonly mode: 'status';
      readonly status: number;
      readonly retryAfter?: string;
      readonly body?: string;
      readonly contentType?: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /** Answer normally after a delay. */
  | { readonly mode: 'slow'; readonly delayMs: number }
  /** Destroy the connection without answering. */
  | { readonly mode: 'reset' };

export const OK: Behaviour = { mode: 'ok' };

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** What the fake did. */
  readonly behaviour: Behaviour['mode'];
  /** Status answered (0 for a reset). */
  status: number;
}

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export abstract class HttpFake {
  readonly requests: RecordedRequest[] = [];
  private httpServer: http.Server | https.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private standing: Behaviour = OK;
  private readonly queue: Behaviour[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  constructor(private readonly tls?: { key: string; cert: string }) {}

  /** The normal reply to a request (after checks): subclasses speak their wire format. */
  protected abstract handle(req: RecordedRequest): Reply;

  /** The reply to a `status` behaviour, in the provider's error format. */
  protected errorReply(b: Extract<Behaviour, { mode: 'status' }>): Reply {
    return { status: b.status, body: b.body ?? '', contentType: b.contentType ?? 'text/plain' };
  }

  get origin(): string {
    return `${this.tls === undefined ? 'http' : 'https'}://127.0.0.1:${this.port}`;
  }

  behave(behaviour: Behaviour): this {
    this.standing = behaviour;
    return this;
  }

  script(...behaviours: Behaviour[]): this {
    this.queue.push(...behaviours);
    return this;
  }

  reset(): this {
    this.requests.length = 0;
    this.queue.length = 0;
    this.standing = OK;
    return this;
  }

  async start(): Promise<this> {
    const listener = (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res);
    this.httpServer =
      this.tls === undefined
        ? http.createServer(listener)
        : https.createServer({ key: this.tls.key, cert: this.tls.cert }, listener);
    this.httpServer.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.httpServer.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.httpServer.listen(0, '127.0.0.1');
    await once(this.httpServer, 'listening');
    this.port = (this.httpServer.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    const server = this.httpServer;
    this.httpServer = undefined;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const behaviour = this.queue.shift() ?? this.standing;
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      behaviour: behaviour.mode,
      status: 0,
    };
    this.requests.push(recorded);
    if (behaviour.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (behaviour.mode === 'slow') {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, behaviour.delayMs);
        this.timers.add(t);
      });
      if (res.destroyed || req.socket.destroyed) return;
    }
    const reply = behaviour.mode === 'status' ? this.errorReply(behaviour) : this.handle(recorded);
    recorded.status = reply.status;
    const headers: Record<string, string> = {
      'content-type': reply.contentType ?? 'application/json',
      ...reply.headers,
    };
    if (behaviour.mode === 'status' && behaviour.retryAfter !== undefined) {
      headers['retry-after'] = behaviour.retryAfter;
    }
    if (behaviour.mode === 'status' && behaviour.headers !== undefined) {
      Object.assign(headers, behaviour.headers);
    }
    res.writeHead(reply.status, headers);
    res.end(reply.body);
  }
}
