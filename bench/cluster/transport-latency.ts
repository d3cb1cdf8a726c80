/**
 * Round-trip latency of cluster/transport between two processes at low load: the parent sends
 * a Ping, the child answers with a Pong on its own stream back, one at a time.
 *
 *   npx tsx bench/cluster/transport-latency.ts        # ROUNDS=5000 by default
 *
 * This is the transport's share of a remote ask (no actor, no JSON): two flushes (next tick),
 * two gRPC writes, two decodes. JSON lines on stdout, progress on stderr.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Transport } from '../../cluster/transport/index.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { emit, log, machineInfo, percentile, round } from '../lib/report.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 5000);

type Msg = { type: 'listening'; address: string } | { type: 'peer'; address: string };

if (process.argv[2] === 'echo') {
  let parent: { id: string; address: string } | undefined;
  const t: Transport = new Transport(
    { nodeId: 'node-b', incarnation: Date.now(), listen: '127.0.0.1:0', epoch: () => 1 },
    {
      onEnvelopes(from, envelopes) {
        for (const e of envelopes) {
          if (e.ping !== undefined && parent !== undefined && from === parent.id) {
            t.send(parent, { pong: { nonce: e.ping.nonce, sentUnixMs: e.ping.sentUnixMs } });
          }
        }
      },
    },
    silentLogger,
  );
  const { address } = await t.start();
  process.on('message', (m: Msg) => {
    if (m.type === 'peer') parent = { id: 'node-a', address: m.address };
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'listening', address } satisfies Msg);
} else {
  log(`machine: ${JSON.stringify(machineInfo())}`);
  const child = fork(fileURLToPath(import.meta.url), ['echo'], { execArgv: process.execArgv });
  const [hello] = (await once(child, 'message')) as [Msg];
  let answered: ((nonce: number) => void) | undefined;
  const t = new Transport(
    { nodeId: 'node-a', incarnation: Date.now(), listen: '127.0.0.1:0', epoch: () => 1 },
    {
      onEnvelopes(_from, envelopes) {
        for (const e of envelopes) if (e.pong !== undefined) answered?.(e.pong.nonce);
      },
    },
    silentLogger,
  );
  const { address } = await t.start();
  child.send({ type: 'peer', address } satisfies Msg);
  const peer = { id: 'node-b', address: hello.address };
  const roundTrip = (nonce: number): Promise<void> =>
    new Promise((resolve) => {
      answered = (n) => {
        if (n === nonce) resolve();
      };
      t.send(peer, { ping: { nonce, sentUnixMs: Date.now() } });
    });
  for (let i = 1; i <= 500; i++) await roundTrip(i); // connect both ways, warm up
  const samples = new Float64Array(ROUNDS);
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    await roundTrip(1000 + i);
    samples[i] = (performance.now() - t0) * 1000;
  }
  samples.sort();
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  log(
    `round trip: p50 ${round(p50, 1)} µs, p90 ${round(percentile(samples, 90), 1)} µs, p99 ${round(p99, 1)} µs, max ${round(samples[ROUNDS - 1]!, 1)} µs over ${ROUNDS} rounds`,
  );
  for (const [name, value] of [
    ['p50', p50],
    ['p99', p99],
  ] as const) {
    emit({
      bench: `cluster.transport.round_trip.${name}`,
      value: round(value, 1),
      unit: 'µs',
      baseline: 'none (the transport share of a remote ask: Ping out, Pong back, one at a time)',
      baselineValue: round(value, 1),
      ratio: 1,
      note: `two processes on 127.0.0.1, plaintext, ${ROUNDS} sequential round trips after 500 warm-up`,
    });
  }
  await t.close();
  child.disconnect();
}
