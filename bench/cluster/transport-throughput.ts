/**
 * One-way throughput of cluster/transport between two processes, against a bare grpc-js
 * bidirectional stream (generated ts-proto client, service and codec) carrying the same
 * envelopes in the same batch sizes.
 *
 *   npx tsx bench/cluster/transport-throughput.ts            # batches 100 and 1000
 *   BATCHES=1000 SECONDS=5 npx tsx bench/cluster/transport-throughput.ts
 *   TLS=1 SKIP_BARE=1 npx tsx bench/cluster/transport-throughput.ts   # transport over mTLS
 *
 * The parent process sends, a child process receives and counts; the rate is what the receiver
 * handled per second over SECONDS after a one-second warm-up. JSON lines on stdout (one per
 * figure, bench/lib/report.ts), progress on stderr.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  PeerBackpressureError,
  type TlsOptions,
  Transport,
} from '../../cluster/transport/index.ts';
import {
  type Envelope,
  type Frame,
  NodeTransportClient,
  NodeTransportService,
} from '../../proto/generated/gito/cluster/v1/cluster.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { emit, log, machineInfo, round, sig } from '../lib/report.ts';

const SECONDS = Number(process.env.SECONDS ?? 3);
const BATCHES = (process.env.BATCHES ?? '100,1000').split(',').map(Number);
const TARGET = 1_000_000;
const TLS = process.env.TLS === '1';

/** mTLS material for both sides (one certificate, SAN 127.0.0.1), made with the openssl CLI. */
function makeTls(dir: string): void {
  const run = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=ca',
  );
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  run('req', ...ec, '-keyout', 'n.key', '-out', 'n.csr', '-subj', '/CN=node');
  run(
    ...['x509', '-req', '-in', 'n.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
    ...['-out', 'n.crt', '-days', '1', '-extfile', 'ext'],
  );
}

function serverCredentials(): ServerCredentials {
  const tls = loadTls();
  return tls === undefined
    ? ServerCredentials.createInsecure()
    : ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true);
}

function tlsOption(): { tls?: TlsOptions } {
  const tls = loadTls();
  return tls === undefined ? {} : { tls };
}

function loadTls(): TlsOptions | undefined {
  const dir = process.env.GITO_BENCH_TLS_DIR;
  if (dir === undefined) return undefined;
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  return { ca: read('ca.crt'), cert: read('n.crt'), key: read('n.key'), mutual: true };
}

type Mode = 'transport' | 'bare';
type ToChild = { cmd: 'count' } | { cmd: 'exit' };
type FromChild =
  | { type: 'listening'; address: string }
  | { type: 'count'; envelopes: number; frames: number; at: number };

/** Small tells like the runtime's: ~22 byte identity, ~45 byte JSON message. */
function envelopes(n: number): Envelope[] {
  const out: Envelope[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      tell: {
        target: `device/acme:pump-${i}`,
        message: Buffer.from(JSON.stringify({ type: 'telemetry', metric: 'temp', value: i })),
        senderNode: 'node-a',
        hops: 0,
        epoch: 7,
      },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Receiver (child process)

async function receiver(mode: Mode, batch: number): Promise<void> {
  let count = 0;
  let frames = 0;
  let address: string;
  if (mode === 'transport') {
    const t = new Transport(
      {
        nodeId: 'node-b',
        incarnation: Date.now(),
        listen: '127.0.0.1:0',
        epoch: () => 7,
        maxBatch: batch,
        ...tlsOption(),
      },
      {
        onEnvelopes(_from, list) {
          count += list.length;
          frames++;
        },
      },
      silentLogger,
    );
    address = (await t.start()).address;
  } else {
    const server = new Server();
    server.addService(NodeTransportService, {
      connect(call: ServerDuplexStream<Frame, Frame>) {
        call.on('data', (frame: Frame) => {
          count += frame.envelopes.length;
          frames++;
        });
        call.on('end', () => call.end());
        call.on('error', () => {});
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', serverCredentials(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  }
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'count') {
      process.send!({
        type: 'count',
        envelopes: count,
        frames,
        at: performance.now(),
      } satisfies FromChild);
    } else {
      process.exit(0);
    }
  });
  process.send!({ type: 'listening', address } satisfies FromChild);
}

// ---------------------------------------------------------------------------------------------
// Sender (parent process)

interface Result {
  readonly rate: number;
  readonly framesPerSecond: number;
  readonly frameBytes: number;
}

async function run(mode: Mode, batch: number): Promise<Result> {
  const child = fork(fileURLToPath(import.meta.url), ['receiver', mode, String(batch)], {
    execArgv: process.execArgv,
  });
  const [hello] = (await once(child, 'message')) as [FromChild];
  if (hello.type !== 'listening') throw new Error('receiver did not start');
  const pool = envelopes(batch);
  let stop = false;
  let frameBytes = 0;
  let closeSender: () => Promise<void>;

  if (mode === 'transport') {
    const t = new Transport(
      {
        nodeId: 'node-a',
        incarnation: Date.now(),
        listen: '127.0.0.1:0',
        epoch: () => 7,
        maxBatch: batch,
        ...tlsOption(),
      },
      { onEnvelopes() {} },
      silentLogger,
    );
    const peer = { id: 'node-b', address: hello.address };
    // A producer that sends a few frames' worth per tick, and backs off (one tick) when the
    // transport says the peer is backpressured, as the cluster layer would.
    const perTick = Math.max(4, Math.ceil(4000 / batch));
    const room = 100_000 - perTick * batch;
    const produce = (): void => {
      if (stop) return;
      if (t.queued(peer.id) > room) {
        // Full: wait for the stream instead of spinning (the queue holds ~100 ms of traffic).
        setTimeout(produce, 1);
        return;
      }
      try {
        for (let k = 0; k < perTick; k++) t.sendMany(peer, pool);
      } catch (err) {
        if (!(err instanceof PeerBackpressureError)) throw err;
      }
      setImmediate(produce);
    };
    produce();
    closeSender = async () => {
      const s = t.stats();
      frameBytes = s.bytesSent / Math.max(1, s.framesSent);
      await t.close();
    };
  } else {
    const tls = loadTls();
    const client = new NodeTransportClient(
      hello.address,
      tls === undefined
        ? credentials.createInsecure()
        : credentials.createSsl(tls.ca, tls.key, tls.cert),
    );
    const call = client.connect();
    call.on('data', () => {});
    call.on('error', () => {});
    let frames = 0;
    let bytes = 0;
    const write = (): void => {
      while (!stop) {
        // Encoded per write, as a real sender would (the generated serializer runs in write()).
        frames++;
        const ok = call.write({ envelopes: pool });
        if (!ok) {
          call.once('drain', write);
          return;
        }
        if (frames % 64 === 0) {
          // Yield now and then so that timers and IPC run.
          setImmediate(write);
          return;
        }
      }
    };
    call.write({
      hello: {
        nodeId: 'node-a',
        incarnation: 1,
        epoch: 7,
        protocolVersion: 1,
        placementHashVersion: 1,
      },
      envelopes: [],
    });
    write();
    closeSender = async () => {
      bytes = NodeTransportService.connect.requestSerialize({ envelopes: pool }).length;
      frameBytes = bytes;
      call.cancel();
      client.close();
    };
  }

  const count = async (): Promise<{ envelopes: number; frames: number; at: number }> => {
    child.send({ cmd: 'count' } satisfies ToChild);
    for (;;) {
      const [m] = (await once(child, 'message')) as [FromChild];
      if (m.type === 'count') return m;
    }
  };
  await sleep(1000);
  const a = await count();
  await sleep(SECONDS * 1000);
  const b = await count();
  stop = true;
  await closeSender();
  await stopChild(child);
  const seconds = (b.at - a.at) / 1000;
  return {
    rate: (b.envelopes - a.envelopes) / seconds,
    framesPerSecond: (b.frames - a.frames) / seconds,
    frameBytes,
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.send({ cmd: 'exit' } satisfies ToChild);
  await exited;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  log(`machine: ${JSON.stringify(machineInfo())}`);
  let tlsDir: string | undefined;
  if (TLS) {
    tlsDir = mkdtempSync(join(tmpdir(), 'gito-bench-tls-'));
    makeTls(tlsDir);
    process.env.GITO_BENCH_TLS_DIR = tlsDir; // read by both processes
  }
  try {
    await measure();
  } finally {
    if (tlsDir !== undefined) rmSync(tlsDir, { recursive: true, force: true });
  }
}

async function measure(): Promise<void> {
  for (const batch of BATCHES) {
    const bare =
      process.env.SKIP_BARE === '1'
        ? { rate: Number.NaN, framesPerSecond: 0, frameBytes: 0 }
        : await run('bare', batch);
    if (!Number.isNaN(bare.rate)) {
      log(`bare grpc-js + ts-proto, batch ${batch}: ${sig(bare.rate)} env/s`);
    }
    const transport = await run('transport', batch);
    log(
      `transport, batch ${batch}: ${sig(transport.rate)} env/s, ${sig(transport.framesPerSecond)} frames/s, ${Math.round(transport.frameBytes)} B/frame`,
    );
    const ratio = transport.rate / bare.rate;
    emit({
      bench: `cluster.transport.one_way${TLS ? '.mtls' : ''}.${batch}`,
      value: Math.round(transport.rate),
      unit: 'envelopes/s',
      baseline: `bare grpc-js bidi stream with the generated ts-proto client/codec, same envelopes, ${batch} per frame`,
      baselineValue: Math.round(bare.rate),
      ratio: round(ratio, 3),
      ...(batch === 1000 ? { target: TARGET, met: transport.rate >= TARGET } : {}),
      framesPerSecond: Math.round(transport.framesPerSecond),
      frameBytes: Math.round(transport.frameBytes),
      note: `two processes on 127.0.0.1, ${TLS ? 'mTLS (both sides)' : 'plaintext'}; Tell of ~86 B framed; ${SECONDS} s after 1 s warm-up; receiver counts in onEnvelopes`,
    });
  }
}

if (process.argv[2] === 'receiver') {
  await receiver(process.argv[3] as Mode, Number(process.argv[4]));
} else {
  await main();
}
