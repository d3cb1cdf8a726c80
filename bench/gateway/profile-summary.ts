/**
 * Summarises a V8 CPU profile (`.cpuprofile`: node --cpu-prof, or GATEWAY_BENCH_PROFILE=<dir>,
 * which profiles the gateway process over the measured rounds) on stdout: where the samples
 * were, by area (npm package, Gito folder, Node internals, GC, idle) and by function, self and
 * inclusive.
 *
 * Caveat: V8 samples wall time on the thread, so time the process spent descheduled (a busy
 * machine) shows up in whatever it was doing, mostly the writev syscall that woke a peer.
 *
 *   npx tsx bench/gateway/profile-summary.ts <file.cpuprofile> [top=25] [filter]
 *
 * `filter` (a substring of a function name or file) restricts the inclusive table to matching
 * frames, e.g. `pg` or `onSend`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly children?: number[];
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const [file, topArg, filter] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [top] [filter]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** The area a frame belongs to: npm package, Gito folder, node internals, or a V8 marker. */
function area(n: ProfileNode): string {
  const { url, functionName } = n.callFrame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const own = /\/work\/main\/([^/]+)\//.exec(url) ?? /\/([^/]+)\/[^/]+\.ts$/.exec(url);
  return own === null ? url : own[1]!;
}

function label(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const where =
    url === '' ? '' : ` ${url.replace(/^.*\/(node_modules|work\/main)\//, '')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
}

const self = new Map<string, number>();
const selfArea = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  const leaf = byId.get(profile.samples[i]!);
  if (leaf === undefined) continue;
  total += dt;
  add(self, label(leaf), dt);
  add(selfArea, area(leaf), dt);
  const seen = new Set<string>();
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id)!);
    if (seen.has(l)) continue;
    seen.add(l);
    add(inclusive, l, dt);
  }
}

const busy = total - (selfArea.get('(idle)') ?? 0);
const pct = (v: number, of: number) => `${((100 * v) / of).toFixed(1).padStart(5)} %`;
const print = (
  title: string,
  m: Map<string, number>,
  n: number,
  of: number,
  keep = (_: string) => true,
) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m]
    .filter(([k]) => keep(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)) {
    process.stdout.write(`${pct(v, of)}  ${(v / 1000).toFixed(0).padStart(7)} ms  ${k}\n`);
  }
};

process.stdout.write(
  `${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle (percentages below are of the non-idle time)\n`,
);
print('self time by area', selfArea, top, busy);
print('self time by function', self, top, busy);
print(
  `inclusive time by function${filter === undefined ? '' : ` (matching "${filter}")`}`,
  inclusive,
  top,
  busy,
  (k) => filter === undefined || k.includes(filter),
);
