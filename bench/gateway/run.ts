/**
 * `npm run bench:gateway` (`tsx bench/gateway/run.ts`; `BENCH_QUICK=1` for the quick mode): the
 * gateway's figures as JSON lines on stdout (bench/lib/report.ts), everything else on stderr.
 * See BENCHMARKS.md, section Gateway.
 *
 * Three child processes, forked alike (Node with the tsx loader): the real gateway
 * (bench/gateway/server.ts, on a fresh PostgreSQL database), a bare Fastify server
 * (bench/gateway/bare.ts) and the load generator (bench/gateway/load.ts, autocannon), so that
 * neither server shares its event loop with the load. Each figure alternates rounds between the
 * gateway and the bare route, so drifting load from elsewhere on the machine hits both alike.
 *
 * - gateway.status: GET /api/v1/devices/{id}/status with a viewer API key, round-robin over
 *   devices whose actors were activated first (one reading each), vs GET on the bare route.
 * - gateway.ingest: POST /api/v1/ingest?device=<key> with a fleet device key, one reading per
 *   request (answered once stored), vs POST on the bare route; the stored rows are counted.
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres; override with
 * GITO_BENCH_PG_ADMIN_URL). The database gito_bench_gateway_<random> and every child process are
 * removed at the end, also on failure.
 */
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { insertApiKey } from '../../db/gateway/api-keys.ts';
import { insertDevices } from '../../db/gateway/devices.ts';
import { insertTenant } from '../../db/gateway/tenants.ts';
import { generateApiKey } from '../../gateway/auth/api-keys.ts';
import { emit, log, machineInfo, percentile, QUICK, round, sig } from '../lib/report.ts';
import {
  backendPids,
  Child,
  cpuSampler,
  createScratchDatabase,
  killChildrenNow,
  type ScratchDatabase,
} from './lib.ts';
import type { LoadOrder, LoadResult } from './load.ts';

const envInt = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};

// Sizes and settings: the GATEWAY_BENCH_* variables are for experiments, not for the recorded
// figures.

/** Devices whose status is read (their actors are activated first). */
const DEVICES = envInt('GATEWAY_BENCH_DEVICES', 2_000);
/**
 * Devices the ingest rotates over (the first DEVICES of them warm): enough that the production
 * per-device rate limit (10 readings/s sustained) is far from reached.
 */
const INGEST_DEVICES = envInt('GATEWAY_BENCH_INGEST_DEVICES', 5_000);
const CONNECTIONS = envInt('GATEWAY_BENCH_CONNECTIONS', 50);
const PIPELINING = envInt('GATEWAY_BENCH_PIPELINING', 1);
/**
 * Connections of the ingest figure. An ingest answer waits for its row's commit (the writer
 * flushes every 20 ms), so each connection carries at most ~40 requests/s whatever the gateway
 * can do: with 50, the figure would measure the flush delay (50 / 25 ms = 2,000/s). Devices
 * sending over HTTP are many concurrent clients; 400 connections load the gateway itself. One
 * extra round pair at CONNECTIONS is reported in the line as `atStatusConnections`.
 */
const INGEST_CONNECTIONS = envInt('GATEWAY_BENCH_INGEST_CONNECTIONS', 400);
const ROUNDS = envInt('GATEWAY_BENCH_ROUNDS', QUICK ? 1 : 3);
const DURATION_SEC = envInt('GATEWAY_BENCH_DURATION', QUICK ? 3 : 8);
const WARMUP_SEC = envInt('GATEWAY_BENCH_WARMUP', QUICK ? 1 : 2);
/**
 * The gateway's log level. 'warn' rather than the production default 'info', which writes two
 * JSON lines per request (incoming, completed): the figures are about handling requests, and a
 * busy deployment turns access logs down or samples them. GATEWAY_BENCH_LOG_LEVEL=info measures
 * them too.
 */
const LOG_LEVEL = process.env.GATEWAY_BENCH_LOG_LEVEL ?? 'warn';
/**
 * Writes CPU profiles of the gateway process over the measured rounds of each figure to this
 * folder (V8's sampling profiler, as node --cpu-prof, started and stopped over the inspector so
 * that start-up and warm-up are left out); read them with bench/gateway/profile-summary.ts.
 */
const PROFILE_DIR =
  process.env.GATEWAY_BENCH_PROFILE === undefined || process.env.GATEWAY_BENCH_PROFILE === ''
    ? ''
    : resolve(process.env.GATEWAY_BENCH_PROFILE);
const ONLY = new Set((process.env.GATEWAY_BENCH_ONLY ?? 'status,ingest').split(','));
/**
 * Diagnostics (off by default): after the status rounds, alternating rounds of GET /auth/me (the
 * route machinery: auth, hooks, serialization; no database, no actor), GET /devices/{id} (plus
 * the device lookup in PostgreSQL), the status read (plus the actor ask) and the bare route,
 * added to the gateway.status line as `decomposition`.
 */
const DECOMPOSE = process.env.GATEWAY_BENCH_DECOMPOSE === '1';

const STATUS_TARGET_RATIO = 0.5;
const TENANT = 'bench';
const FASTIFY_VERSION = (
  createRequire(import.meta.url)('fastify/package.json') as { version: string }
).version;

const started = performance.now();
log(`machine: ${JSON.stringify(machineInfo())}`);
log(
  `mode: ${QUICK ? 'quick (BENCH_QUICK=1)' : 'full'}; ${DEVICES} devices for status reads, ${INGEST_DEVICES} for ingest, ${CONNECTIONS} connections (ingest ${INGEST_CONNECTIONS}), pipelining ${PIPELINING}, ${ROUNDS} round(s) of ${DURATION_SEC} s per contender after ${WARMUP_SEC} s warm-up, gateway log level ${LOG_LEVEL}`,
);

let db: ScratchDatabase | undefined;
const children: Child[] = [];
process.on('exit', killChildrenNow);
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function cleanup(): Promise<void> {
  await Promise.all(children.map((c) => c.stop().catch(() => {})));
  children.length = 0;
  killChildrenNow();
  await db?.drop().catch((err: unknown) => log(`drop database: ${String(err)}`));
  db = undefined;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- set-up --------------------------------------------------------------------------------------

interface Fleet {
  /** Every device, in creation order: ids (API) and keys (ingest). */
  readonly ids: string[];
  readonly keys: string[];
  readonly viewerKey: string;
  readonly deviceKey: string;
}

/** One tenant, its devices, a viewer key (status reads) and a fleet device key (ingest). */
async function seed(scratch: ScratchDatabase): Promise<Fleet> {
  await insertTenant(scratch.pool, { id: TENANT, name: 'Gateway benchmark' });
  const keys = Array.from(
    { length: Math.max(DEVICES, INGEST_DEVICES) },
    (_, i) => `pump-${String(i).padStart(5, '0')}`,
  );
  const { created } = await insertDevices(
    scratch.pool,
    TENANT,
    keys.map((key) => ({ key, name: `Pump ${key}`, type: 'pump', tags: ['bench'] })),
  );
  const newKey = async (role: 'viewer' | 'device') => {
    const k = generateApiKey();
    await insertApiKey(scratch.pool, TENANT, {
      name: `bench ${role}`,
      prefix: k.prefix,
      keyHash: k.hash,
      role,
    });
    return k.key;
  };
  return {
    ids: created.map((d) => d.id),
    keys: created.map((d) => d.key),
    viewerKey: await newKey('viewer'),
    deviceKey: await newKey('device'),
  };
}

/** Runs `fn` over `items` with at most `concurrency` at once. */
async function eachLimited<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Activates every device actor through the real paths: one reading per device over HTTP ingest,
 * then one status read per device, which must be answered live by the actor.
 */
async function warmDevices(gatewayUrl: string, fleet: Fleet, tsBase: number): Promise<number> {
  let seq = 0;
  let stored = 0;
  const ingestStart = performance.now();
  // Each answer waits for its row's commit (up to the 20 ms flush delay): many at once.
  await eachLimited(fleet.keys.slice(0, DEVICES), CONNECTIONS, async (key) => {
    const i = seq++;
    const res = await fetch(`${gatewayUrl}/api/v1/ingest?device=${key}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fleet.deviceKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ temperature: 20, humidity: 40, battery: 90, ts: tsBase + i }),
    });
    if (res.status !== 200)
      throw new Error(`warm-up ingest ${key}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    stored++;
  });
  const statusStart = performance.now();
  await eachLimited(fleet.ids.slice(0, DEVICES), CONNECTIONS, async (id) => {
    const res = await fetch(`${gatewayUrl}/api/v1/devices/${id}/status`, {
      headers: { authorization: `Bearer ${fleet.viewerKey}` },
    });
    const body = (await res.json()) as { live?: boolean; metrics?: Record<string, unknown> };
    if (res.status !== 200 || body.live !== true || Object.keys(body.metrics ?? {}).length === 0) {
      throw new Error(`warm-up status of device ${id}: ${res.status} ${JSON.stringify(body)}`);
    }
  });
  log(
    `warm-up: ${stored} readings stored in ${Math.round(statusStart - ingestStart)} ms, then ${DEVICES} live status reads in ${Math.round(performance.now() - statusStart)} ms`,
  );
  return stored;
}

// ---- measuring -------------------------------------------------------------------------------------

interface Round {
  readonly load: LoadResult;
  readonly cpu: Record<string, number>;
}

interface Contenders {
  readonly gateway: Child<{ url: string }>;
  readonly bare: Child<{ url: string }>;
  readonly load: Child;
}

async function measure(
  c: Contenders,
  scratch: ScratchDatabase,
  order: Omit<LoadOrder, 'durationSec'>,
  durationSec: number,
): Promise<Round> {
  const pids = {
    gateway: [c.gateway.pid ?? 0],
    bare: [c.bare.pid ?? 0],
    load: [c.load.pid ?? 0],
    postgres: await backendPids(scratch),
  };
  const cpu = cpuSampler(pids);
  const load = await c.load.call<LoadResult>({ type: 'run', order: { ...order, durationSec } });
  return { load, cpu: cpu.end() };
}

function describe(name: string, r: Round): string {
  const l = r.load;
  const lat = l.latenciesMs;
  const bad =
    l.non2xx + l.errors + l.timeouts > 0
      ? `; NOT OK: non2xx ${l.non2xx}, errors ${l.errors}, timeouts ${l.timeouts}, codes ${JSON.stringify(l.statusCodes)}`
      : '';
  return `${name}: ${Math.round(l.rate)} req/s (${l.ok} in ${l.durationSec} s), latency ms p50 ${sig(percentile(lat, 50), 3)} p99 ${sig(percentile(lat, 99), 3)} max ${sig(lat[lat.length - 1] ?? Number.NaN, 3)}; cores ${JSON.stringify(r.cpu)}; µs cpu/req ${JSON.stringify(usPerRequest([r]))}${bad}`;
}

/** CPU per answered request, µs, by process (the machine's `other` left out), over rounds. */
function usPerRequest(rounds: readonly Round[]): Record<string, number> {
  const cores = meanCpu(rounds);
  const rate = rounds.reduce((a, r) => a + r.load.rate, 0) / rounds.length;
  return Object.fromEntries(
    Object.entries(cores)
      .filter(([k, v]) => k !== 'other' && v >= 0.02)
      .map(([k, v]) => [k, Math.round((v * 1e6) / rate)]),
  );
}

/** Pools the latency samples of several rounds (ascending). */
function pooled(rounds: readonly Round[]): Float64Array {
  const all = new Float64Array(rounds.reduce((a, r) => a + r.load.latenciesMs.length, 0));
  let at = 0;
  for (const r of rounds) {
    all.set(r.load.latenciesMs, at);
    at += r.load.latenciesMs.length;
  }
  return all.sort();
}

/** Mean cores per process over rounds. */
function meanCpu(rounds: readonly Round[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const r of rounds) for (const [k, v] of Object.entries(r.cpu)) sum[k] = (sum[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, round(v / rounds.length, 2)]));
}

interface Comparison {
  readonly gateway: Round[];
  readonly bare: Round[];
}

/**
 * A warm-up run of each (not reported), then ROUNDS alternating pairs: the bare route first in
 * rounds 1, 3, ..., the gateway first in rounds 2, 4, ...
 */
async function compare(
  label: string,
  c: Contenders,
  scratch: ScratchDatabase,
  gatewayOrder: () => Omit<LoadOrder, 'durationSec'>,
  bareOrder: () => Omit<LoadOrder, 'durationSec'>,
  after: (r: Round) => void = () => {},
): Promise<Comparison> {
  const out: Comparison = { gateway: [], bare: [] };
  const runBare = async (tag: string) => {
    const r = await measure(c, scratch, bareOrder(), tag === 'warm-up' ? WARMUP_SEC : DURATION_SEC);
    log(describe(`${label} bare ${tag}`, r));
    return r;
  };
  const runGateway = async (tag: string) => {
    const r = await measure(
      c,
      scratch,
      gatewayOrder(),
      tag === 'warm-up' ? WARMUP_SEC : DURATION_SEC,
    );
    after(r);
    log(describe(`${label} gateway ${tag}`, r));
    return r;
  };
  await runBare('warm-up');
  await runGateway('warm-up');
  if (PROFILE_DIR !== '') await c.gateway.call({ type: 'profile-start' });
  for (let i = 1; i <= ROUNDS; i++) {
    if (i % 2 === 1) {
      out.bare.push(await runBare(`round ${i}`));
      out.gateway.push(await runGateway(`round ${i}`));
    } else {
      out.gateway.push(await runGateway(`round ${i}`));
      out.bare.push(await runBare(`round ${i}`));
    }
  }
  if (PROFILE_DIR !== '') {
    const file = join(PROFILE_DIR, `gateway-${label}-${Date.now()}.cpuprofile`);
    log(
      `gateway CPU profile of the ${label} rounds: ${await c.gateway.call({ type: 'profile-stop', file })}`,
    );
  }
  return out;
}

/** The fields both figures share. */
function figure(cmp: Comparison, connections: number) {
  const rates = (rs: readonly Round[]) => rs.map((r) => Math.round(r.load.rate));
  const value = median(rates(cmp.gateway));
  const baselineValue = median(rates(cmp.bare));
  const lat = pooled(cmp.gateway);
  const bareLat = pooled(cmp.bare);
  const failures = cmp.gateway.reduce(
    (a, r) => a + r.load.non2xx + r.load.errors + r.load.timeouts,
    0,
  );
  return {
    value,
    baselineValue,
    ratio: round(value / baselineValue, 3),
    p99Ms: sig(percentile(lat, 99), 3),
    p50Ms: sig(percentile(lat, 50), 3),
    baselineP99Ms: sig(percentile(bareLat, 99), 3),
    baselineP50Ms: sig(percentile(bareLat, 50), 3),
    connections,
    pipelining: PIPELINING,
    roundSec: DURATION_SEC,
    rounds: rates(cmp.gateway),
    baselineRounds: rates(cmp.bare),
    roundRatios: cmp.gateway.map((r, i) => round(r.load.rate / cmp.bare[i]!.load.rate, 3)),
    failedRequests: failures,
    cpuCores: meanCpu(cmp.gateway),
    baselineCpuCores: meanCpu(cmp.bare),
    cpuUsPerRequest: usPerRequest(cmp.gateway),
    baselineCpuUsPerRequest: usPerRequest(cmp.bare),
  };
}

const loadNote = (connections: number) =>
  `load: autocannon 9 in its own process, ${connections} keep-alive connections, pipelining ${PIPELINING}, ${ROUNDS} round(s) of ${DURATION_SEC} s per contender alternating with the baseline after a ${WARMUP_SEC} s warm-up of each; value = median round req/s (2xx only); p50/p99 over every 2xx answer of the measured rounds; cpuCores: mean cores used per process during the rounds (postgres = this database's backends, other = the rest of the machine), cpuUsPerRequest: the same per answered request`;

const bareNote = `bare Fastify ${FASTIFY_VERSION} (no plugins, no logger, no schemas) returning a constant {"hello":"world"}, in its own process forked like the gateway's (Node + tsx)`;

async function runStatus(c: Contenders, scratch: ScratchDatabase, fleet: Fleet): Promise<void> {
  const headers = { authorization: `Bearer ${fleet.viewerKey}` };
  const cmp = await compare(
    'status',
    c,
    scratch,
    () => ({
      origin: c.gateway.ready.url,
      method: 'GET',
      pathTemplate: '/api/v1/devices/{t}/status',
      targets: fleet.ids.slice(0, DEVICES),
      headers,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
    }),
    () => ({
      origin: c.bare.ready.url,
      method: 'GET',
      pathTemplate: '/bare?device={t}',
      targets: fleet.ids.slice(0, DEVICES),
      headers,
      connections: CONNECTIONS,
      pipelining: PIPELINING,
    }),
  );
  const decomposition = DECOMPOSE ? await decompose(c, scratch, fleet) : undefined;
  const s = await c.gateway.call<{ actors: number; rssMB: number }>({ type: 'stats' });
  log(`gateway after status rounds: ${JSON.stringify(s)}`);
  const f = figure(cmp, CONNECTIONS);
  emit({
    bench: 'gateway.status',
    unit: 'req/s',
    baseline: `${bareNote}: GET /bare with the same headers, same load`,
    ...f,
    targetRatio: STATUS_TARGET_RATIO,
    met: f.ratio >= STATUS_TARGET_RATIO && f.failedRequests === 0,
    devices: DEVICES,
    residentActors: s.actors,
    ...(decomposition === undefined ? {} : { decomposition }),
    note: `GET /api/v1/devices/{id}/status with a viewer API key (Bearer), round-robin over ${DEVICES} devices whose actors were activated first (one reading each, answered live); the gateway of app/embedded.ts minus MQTT (bench/gateway/server.ts: real PostgreSQL, ActorSystem with PostgreSQL stores, node services, buildGateway + apiDependencies; per-key rate limit raised, log level ${LOG_LEVEL}); ${loadNote(CONNECTIONS)}`,
  });
}

/** GATEWAY_BENCH_DECOMPOSE: what each layer of a status read costs (see DECOMPOSE). */
async function decompose(c: Contenders, scratch: ScratchDatabase, fleet: Fleet) {
  const headers = { authorization: `Bearer ${fleet.viewerKey}` };
  const common = {
    headers,
    targets: fleet.ids.slice(0, DEVICES),
    connections: CONNECTIONS,
    pipelining: PIPELINING,
  };
  const gw = c.gateway.ready.url;
  const routes: Array<[string, Omit<LoadOrder, 'durationSec'>]> = [
    [
      'bare',
      { ...common, origin: c.bare.ready.url, method: 'GET', pathTemplate: '/bare?device={t}' },
    ],
    ['authMe', { ...common, origin: gw, method: 'GET', pathTemplate: '/api/v1/auth/me' }],
    ['deviceRead', { ...common, origin: gw, method: 'GET', pathTemplate: '/api/v1/devices/{t}' }],
    [
      'status',
      { ...common, origin: gw, method: 'GET', pathTemplate: '/api/v1/devices/{t}/status' },
    ],
  ];
  const rounds = new Map<string, Round[]>(routes.map(([name]) => [name, []]));
  for (let i = 0; i < ROUNDS; i++) {
    // Rotate the order so that each route runs early and late.
    for (let j = 0; j < routes.length; j++) {
      const [name, order] = routes[(i + j) % routes.length]!;
      const r = await measure(c, scratch, order, DURATION_SEC);
      log(describe(`decompose ${name} round ${i + 1}`, r));
      rounds.get(name)!.push(r);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, rs] of rounds) {
    const lat = pooled(rs);
    out[name] = {
      rate: Math.round(median(rs.map((r) => r.load.rate))),
      p99Ms: sig(percentile(lat, 99), 3),
      cpuUsPerRequest: usPerRequest(rs),
      failedRequests: rs.reduce((a, r) => a + r.load.non2xx + r.load.errors + r.load.timeouts, 0),
    };
  }
  log(`decomposition: ${JSON.stringify(out)}`);
  return out;
}

async function runIngest(
  c: Contenders,
  scratch: ScratchDatabase,
  fleet: Fleet,
  tsBase: number,
  warmedReadings: number,
): Promise<void> {
  const headers = {
    authorization: `Bearer ${fleet.deviceKey}`,
    'content-type': 'application/json',
  };
  let seq = warmedReadings;
  let answered = warmedReadings;
  const targets = fleet.keys.slice(0, INGEST_DEVICES);
  const gatewayOrder = (connections: number) => () => ({
    origin: c.gateway.ready.url,
    method: 'POST' as const,
    pathTemplate: '/api/v1/ingest?device={t}',
    targets,
    headers,
    ingestBody: { tsBase, seqStart: seq },
    connections,
    pipelining: PIPELINING,
  });
  const bareOrder = (connections: number) => () => ({
    origin: c.bare.ready.url,
    method: 'POST' as const,
    pathTemplate: '/bare?device={t}',
    targets,
    headers,
    ingestBody: { tsBase, seqStart: 0 },
    connections,
    pipelining: PIPELINING,
  });
  const counted = (r: Round) => {
    seq = r.load.seqEnd;
    answered += r.load.ok;
  };
  const cmp = await compare(
    'ingest',
    c,
    scratch,
    gatewayOrder(INGEST_CONNECTIONS),
    bareOrder(INGEST_CONNECTIONS),
    counted,
  );
  // One pair at the status figure's connection count: how few clients fare (latency-bound).
  let atStatusConnections: Record<string, unknown> | undefined;
  if (INGEST_CONNECTIONS !== CONNECTIONS) {
    const b = await measure(c, scratch, bareOrder(CONNECTIONS)(), DURATION_SEC);
    log(describe(`ingest bare at ${CONNECTIONS} connections`, b));
    const g = await measure(c, scratch, gatewayOrder(CONNECTIONS)(), DURATION_SEC);
    counted(g);
    log(describe(`ingest gateway at ${CONNECTIONS} connections`, g));
    atStatusConnections = {
      connections: CONNECTIONS,
      value: Math.round(g.load.rate),
      baselineValue: Math.round(b.load.rate),
      ratio: round(g.load.rate / b.load.rate, 3),
      p50Ms: sig(percentile(g.load.latenciesMs, 50), 3),
      p99Ms: sig(percentile(g.load.latenciesMs, 99), 3),
      failedRequests: g.load.non2xx + g.load.errors + g.load.timeouts,
    };
  }
  const s = await c.gateway.call<{
    accepted: number;
    rejected: number;
    throttled: number;
    rowsWritten: number;
  }>({ type: 'settle' });
  const { rows } = await scratch.pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry');
  const stored = Number(rows[0]!.n);
  // Requests cut off when a round ended may have been stored without their answer being counted:
  // the server's accepted count is the exact expectation, the answered 2xx a lower bound.
  const verified = stored === s.accepted && stored >= answered && s.rejected === 0;
  log(
    `ingest verification: ${stored} rows in telemetry; gateway accepted ${s.accepted}, rejected ${s.rejected}, throttled ${s.throttled}, writer rows ${s.rowsWritten}; 2xx answers counted by the load generator (warm-up included) ${answered}; ${verified ? 'OK' : 'MISMATCH'}`,
  );
  const f = figure(cmp, INGEST_CONNECTIONS);
  emit({
    bench: 'gateway.ingest',
    unit: 'req/s',
    baseline: `${bareNote}: POST /bare with the same headers and JSON body, same load`,
    ...f,
    devices: INGEST_DEVICES,
    rowsStored: stored,
    gatewayAccepted: s.accepted,
    answered2xx: answered,
    rowsVerified: verified,
    throttled: s.throttled,
    ...(atStatusConnections === undefined ? {} : { atStatusConnections }),
    note: `POST /api/v1/ingest?device=<key> with a fleet device API key, one reading per request ({temperature, humidity, battery, ts}, ts unique per request), round-robin over ${INGEST_DEVICES} devices (${DEVICES} of them warm before); each answer waits until its row is committed (IngestPipeline -> TelemetryWriter, binary COPY, production defaults: flush after 20 ms or 5000 rows; per-device rate limit 10/s burst 20, not reached); ${INGEST_CONNECTIONS} connections because each one waits ~25 ms per reading (atStatusConnections: one more pair of rounds at ${CONNECTIONS}); rows counted with count(*) after the run (rowsStored = gatewayAccepted; >= answered2xx, the difference being requests cut off at the end of a round); no target set by the issue; ${loadNote(INGEST_CONNECTIONS)}`,
  });
}

try {
  db = await createScratchDatabase();
  const fleet = await seed(db);
  log(`seeded tenant ${TENANT}: ${fleet.ids.length} devices, a viewer key and a fleet device key`);
  const [gateway, bare, load] = await Promise.all([
    Child.start<{ type: 'ready'; url: string; pid: number }>('gateway', './server.ts', {
      BENCH_DATABASE_URL: db.url,
      GATEWAY_BENCH_LOG_LEVEL: LOG_LEVEL,
    }),
    Child.start<{ type: 'ready'; url: string; pid: number }>('bare', './bare.ts', {}),
    Child.start('load', './load.ts', {}),
  ]);
  children.push(gateway, bare, load);
  log(
    `gateway ${gateway.ready.url} (pid ${gateway.pid}), bare ${bare.ready.url} (pid ${bare.pid}), load pid ${load.pid}`,
  );
  const contenders: Contenders = { gateway, bare, load };

  // Readings carry their own ts, unique per request, from the start of the run onwards (the
  // current month's partition and the ones ahead exist).
  const tsBase = Date.now();
  const t0 = performance.now();
  const warmed = await warmDevices(gateway.ready.url, fleet, tsBase);
  log(`warmed ${warmed} device actors in ${Math.round(performance.now() - t0)} ms`);

  if (ONLY.has('status')) await runStatus(contenders, db, fleet);
  if (ONLY.has('ingest')) await runIngest(contenders, db, fleet, tsBase, warmed);
} catch (err) {
  log(`bench:gateway failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  log(`done in ${Math.round((performance.now() - started) / 1000)} s`);
}
