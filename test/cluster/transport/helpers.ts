import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  type Envelope,
  Transport,
  type TransportHandler,
  type TransportOptions,
} from '../../../cluster/transport/index.ts';
import type { Logger } from '../../../runtime/logger.ts';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

/** A Logger that keeps every line, for assertions. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (fields: object, msg?: string): void => {
      lines.push({ level, msg: msg ?? '', fields: fields as Record<string, unknown> });
    };
  return {
    lines,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

export interface TestNode {
  readonly id: string;
  readonly transport: Transport;
  readonly address: string;
  /** Every envelope received, with its sender, in arrival order. */
  readonly received: Array<{ from: string; envelope: Envelope }>;
  /** Sizes of the batches handed to onEnvelopes (one per frame). */
  readonly batches: Envelope[][];
  readonly hellos: Array<{ nodeId: string; incarnation: number; epoch: number }>;
  readonly lines: LogLine[];
  readonly peer: { id: string; address: string };
}

const started: Transport[] = [];

/** Starts a Transport on 127.0.0.1 that records what it receives. */
export async function startNode(
  id: string,
  options: Partial<TransportOptions> = {},
  handler?: Partial<TransportHandler>,
): Promise<TestNode> {
  const received: TestNode['received'] = [];
  const batches: Envelope[][] = [];
  const hellos: TestNode['hellos'] = [];
  const { logger, lines } = captureLogger();
  const transport = new Transport(
    { nodeId: id, incarnation: Date.now(), listen: '127.0.0.1:0', epoch: () => 1, ...options },
    {
      onEnvelopes(from, envelopes) {
        batches.push([...envelopes]);
        for (const envelope of envelopes) received.push({ from, envelope });
        handler?.onEnvelopes?.(from, envelopes);
      },
      onPeerHello(peer) {
        hellos.push(peer);
        handler?.onPeerHello?.(peer);
      },
    },
    logger,
  );
  const { address } = await transport.start();
  started.push(transport);
  return { id, transport, address, received, batches, hellos, lines, peer: { id, address } };
}

/** Closes every Transport started by startNode (call from afterEach). */
export async function closeAll(): Promise<void> {
  await Promise.all(started.splice(0).map((t) => t.close()));
}

export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function ping(nonce: number): Envelope {
  return { ping: { nonce, sentUnixMs: 1_767_225_600_000 } };
}

/** A Tell whose target carries a sequence number (`seq/<n>`) and a payload of `bytes` bytes. */
export function seqTell(n: number, bytes = 40): Envelope {
  return {
    tell: {
      target: `seq/${n}`,
      message: Buffer.alloc(bytes, 120),
      senderNode: 'parent',
      hops: 0,
      epoch: 1,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A peer in a child process (fixtures/peer.ts).

export type ToPeer = { cmd: 'stats' } | { cmd: 'stall'; ms: number } | { cmd: 'exit' };

export interface PeerStats {
  /** Envelopes received. */
  readonly received: number;
  /** Sequence numbers (`seq/<n>` targets) of the first and last received. */
  readonly first: number;
  readonly last: number;
  /** How often a sequence number was not the previous one plus 1. */
  readonly breaks: number;
}

export type FromPeer =
  | { type: 'listening'; address: string; incarnation: number }
  | ({ type: 'stats' } & PeerStats)
  | { type: 'stalling' };

const fixture = fileURLToPath(new URL('./fixtures/peer.ts', import.meta.url));

export class ChildPeer {
  private constructor(
    readonly child: ChildProcess,
    readonly address: string,
    readonly incarnation: number,
  ) {}

  static async start(nodeId: string, listen = '127.0.0.1:0'): Promise<ChildPeer> {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, nodeId, listen], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`peer process exited early (code ${code})`);
    });
    const listening = (async () => {
      for (;;) {
        const [m] = (await once(child, 'message')) as [FromPeer];
        if (m.type === 'listening') return m;
      }
    })();
    const m = await Promise.race([listening, exited]);
    exited.catch(() => {});
    return new ChildPeer(child, m.address, m.incarnation);
  }

  private async request<T extends FromPeer['type']>(
    message: ToPeer,
    reply: T,
  ): Promise<Extract<FromPeer, { type: T }>> {
    const answer = (async () => {
      for (;;) {
        const [m] = (await once(this.child, 'message')) as [FromPeer];
        if (m.type === reply) return m as Extract<FromPeer, { type: T }>;
      }
    })();
    this.child.send(message);
    return answer;
  }

  stats(): Promise<PeerStats> {
    return this.request({ cmd: 'stats' }, 'stats');
  }

  /** Blocks the peer's event loop for `ms` (resolves when the stall has begun). */
  async stall(ms: number): Promise<void> {
    await this.request({ cmd: 'stall', ms }, 'stalling');
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }

  async waitForReceived(n: number, timeoutMs = 10_000): Promise<PeerStats> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.stats();
      if (s.received >= n) return s;
      if (Date.now() > until) {
        throw new Error(`peer received ${s.received} of ${n} envelopes in ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
