/**
 * The baselines of `cluster.remote_tell`, adapted from transport-throughput.ts (same envelopes,
 * same bare path) to the "send N, time from the first send until the receiver counted the
 * last one" method the Gito figure uses:
 *
 * - bare: a grpc-js bidirectional stream with the generated ts-proto client, service and codec
 *   (the baseline of the figure): frames of `batch` envelopes written until `write()` pushes back,
 *   continued on 'drain', yielding every 64 frames; the receiver decodes each frame and counts.
 * - transport: cluster/transport's `Transport` alone (no actors, no JSON, no routing), same
 *   envelopes, `sendMany` of whole batches; the receiver counts in `onEnvelopes`. Reported as a
 *   diagnostic: the gap between it and the Gito figure is the node's per-message cost.
 *
 * The receiver is a child process (`fork` of this file with argv `receiver`); the sender runs in
 * the calling process. Both receivers live in one child, on two ports.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { credentials, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { PeerBackpressureError, Transport } from '../../cluster/transport/index.ts';
import {
  type Envelope,
  type Frame,
  NodeTransportClient,
  NodeTransportService,
} from '../../proto/generated/gito/cluster/v1/cluster.ts';
import { silentLogger } from '../../runtime/logger.ts';

type ToChild = { cmd: 'expect'; n: number } | { cmd: 'exit' };
type FromChild =
  | { type: 'listening'; bare: string; transport: string }
  | { type: 'done'; n: number; at: number; frames: number; cpuUs: number };

const wallNow = (): number => performance.timeOrigin + performance.now();
/** CPU time of this process so far (all threads, user + system), µs. */
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** The envelopes a node sends for a blast: Tells to sink identities with a ~45 byte JSON body. */
export function blastEnvelopes(
  targets: readonly string[],
  batch: number,
  senderNode: string,
  epoch: number,
): Envelope[] {
  const out: Envelope[] = [];
  for (let i = 0; i < batch; i++) {
    out.push({
      tell: {
        target: targets[i % targets.length]!,
        message: Buffer.from(JSON.stringify({ type: 'telemetry', metric: 'temp', value: i })),
        senderNode,
        hops: 0,
        epoch,
      },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Receiver (child)

async function receiver(): Promise<void> {
  let count = 0;
  let frames = 0;
  let expect = Number.POSITIVE_INFINITY;
  let cpuAtExpect = 0;
  const counted = (n: number) => {
    count += n;
    frames++;
    if (count >= expect) {
      expect = Number.POSITIVE_INFINITY;
      const cpuUs = cpuNow() - cpuAtExpect;
      process.send!({ type: 'done', n: count, at: wallNow(), frames, cpuUs } satisfies FromChild);
    }
  };
  const server = new Server();
  server.addService(NodeTransportService, {
    connect(call: ServerDuplexStream<Frame, Frame>) {
      call.on('data', (frame: Frame) => {
        if (frame.envelopes.length > 0) counted(frame.envelopes.length);
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const transport = new Transport(
    { nodeId: 'bench-receiver', incarnation: Date.now(), listen: '127.0.0.1:0', epoch: () => 1 },
    { onEnvelopes: (_from, list) => counted(list.length) },
    silentLogger,
  );
  const { address } = await transport.start();
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'expect') {
      count = 0;
      frames = 0;
      expect = m.n;
      cpuAtExpect = cpuNow();
    } else {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({
    type: 'listening',
    bare: `127.0.0.1:${port}`,
    transport: address,
  } satisfies FromChild);
}

// ---------------------------------------------------------------------------------------------
// Sender (calling process)

export interface BlastResult {
  readonly n: number;
  readonly ms: number;
  readonly rate: number;
  readonly framesPerBlast: number;
  /** CPU the sending process used from the first send until the receiver counted the last. */
  readonly senderCpuUs: number;
  /** CPU the receiving process used meanwhile. */
  readonly receiverCpuUs: number;
}

export class BareBaseline {
  private bareClient: NodeTransportClient | undefined;
  private transport: Transport | undefined;
  private constructor(
    private readonly child: ChildProcess,
    private readonly addresses: { bare: string; transport: string },
  ) {}

  static async start(register: (child: ChildProcess) => void): Promise<BareBaseline> {
    const child = fork(fileURLToPath(import.meta.url), ['receiver'], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    register(child);
    const [hello] = (await once(child, 'message')) as [FromChild];
    if (hello.type !== 'listening') throw new Error('bare receiver did not start');
    return new BareBaseline(child, hello);
  }

  private expect(n: number): Promise<{ at: number; frames: number; cpuUs: number }> {
    const done = new Promise<{ at: number; frames: number; cpuUs: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error(`receiver did not count ${n} envelopes within 60 s`));
      }, 60_000);
      const onMessage = (m: FromChild) => {
        if (m.type !== 'done') return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(m);
      };
      this.child.on('message', onMessage);
    });
    this.child.send({ cmd: 'expect', n } satisfies ToChild);
    return done;
  }

  /** `frames` frames of `pool` (one frame = the whole pool) over the bare grpc-js stream. */
  async bare(pool: Envelope[], frames: number): Promise<BlastResult> {
    let call = this.bareCall;
    if (call === undefined) {
      this.bareClient = new NodeTransportClient(this.addresses.bare, credentials.createInsecure());
      call = this.bareClient.connect();
      call.on('data', () => {});
      call.on('error', () => {});
      this.bareCall = call;
    }
    const c = call;
    const n = frames * pool.length;
    const done = this.expect(n);
    await new Promise((r) => setTimeout(r, 20)); // let the 'expect' reach the child first
    const cpu0 = cpuNow();
    const startedAt = wallNow();
    await new Promise<void>((resolve) => {
      let written = 0;
      const write = (): void => {
        while (written < frames) {
          written++;
          // Encoded per write, as a real sender would (the generated serializer runs in write()).
          const ok = c.write({ envelopes: pool });
          if (written === frames) break;
          if (!ok) {
            c.once('drain', write);
            return;
          }
          if (written % 64 === 0) {
            setImmediate(write);
            return;
          }
        }
        resolve();
      };
      write();
    });
    const { at, frames: received, cpuUs } = await done;
    const ms = at - startedAt;
    return {
      n,
      ms,
      rate: n / (ms / 1000),
      framesPerBlast: received,
      senderCpuUs: cpuNow() - cpu0,
      receiverCpuUs: cpuUs,
    };
  }
  private bareCall: ReturnType<NodeTransportClient['connect']> | undefined;

  /** The same over cluster/transport alone (sendMany of the pool, backing off when full). */
  async transportOnly(pool: Envelope[], frames: number): Promise<BlastResult> {
    if (this.transport === undefined) {
      this.transport = new Transport(
        { nodeId: 'bench-sender', incarnation: Date.now(), listen: '127.0.0.1:0', epoch: () => 1 },
        { onEnvelopes() {} },
        silentLogger,
      );
      await this.transport.start();
    }
    const t = this.transport;
    const peer = { id: 'bench-receiver', address: this.addresses.transport };
    const n = frames * pool.length;
    const done = this.expect(n);
    await new Promise((r) => setTimeout(r, 20));
    const cpu0 = cpuNow();
    const startedAt = wallNow();
    const perTick = Math.max(4, Math.ceil(4000 / pool.length));
    const room = 100_000 - perTick * pool.length;
    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      const produce = (): void => {
        if (t.queued(peer.id) > room) {
          setTimeout(produce, 1);
          return;
        }
        try {
          for (let k = 0; k < perTick && sent < frames; k++) {
            t.sendMany(peer, pool);
            sent++;
          }
        } catch (err) {
          if (!(err instanceof PeerBackpressureError)) {
            reject(err);
            return;
          }
        }
        if (sent >= frames) resolve();
        else setImmediate(produce);
      };
      produce();
    });
    const { at, frames: received, cpuUs } = await done;
    const ms = at - startedAt;
    return {
      n,
      ms,
      rate: n / (ms / 1000),
      framesPerBlast: received,
      senderCpuUs: cpuNow() - cpu0,
      receiverCpuUs: cpuUs,
    };
  }

  /** Encoded size of one frame of `pool` with the generated codec. */
  static frameBytes(pool: Envelope[]): number {
    return NodeTransportService.connect.requestSerialize({ envelopes: pool }).length;
  }

  async close(): Promise<void> {
    this.bareCall?.cancel();
    this.bareClient?.close();
    await this.transport?.close().catch(() => undefined);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.send({ cmd: 'exit' } satisfies ToChild);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
      this.child.kill('SIGKILL');
    }
  }
}

if (process.argv[2] === 'receiver') await receiver();
