/**
 * Prometheus Alertmanager as the peer of `npm run bench:notify` (FIELD-NOTES.md: Debian's
 * prometheus-alertmanager 0.25). Installed with apt-get when absent, started on a free loopback
 * port with a temporary configuration and storage directory and HA clustering disabled
 * (`--cluster.listen-address=`), and killed at the end, also on failure (lib.ts track()).
 *
 * Configuration: one route to one webhook receiver (the same fake as Gito's, path /am),
 * group_by ['...'] so that every alert is its own group and its own notification, group_wait 0s
 * (sent as soon as the alert is dispatched), group_interval 1h and repeat_interval 24h (no
 * re-sends within the run), send_resolved false.
 *
 * Alerts go in through POST /api/v2/alerts like Prometheus sends them: a JSON array, each alert
 * with distinct labels (`bench_id` numbers them; the receiver reads it back).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from '../lib/report.ts';
import { freePort, sleep, stopChild, track } from './lib.ts';

export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';

/** Installs Debian's prometheus-alertmanager when the binary is missing (the setup step). */
export function ensureAlertmanagerInstalled(): void {
  if (existsSync(ALERTMANAGER_BIN)) return;
  log('prometheus-alertmanager is not installed: apt-get install -y prometheus-alertmanager');
  const root = process.getuid?.() === 0;
  // apt-get's output goes to stderr: stdout carries only the JSON lines.
  const run = (args: string[]): boolean => {
    const cmd = root ? 'apt-get' : 'sudo';
    const r = spawnSync(cmd, root ? args : ['apt-get', ...args], {
      stdio: ['ignore', 2, 2],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return r.status === 0;
  };
  const install = ['install', '-y', '--no-install-recommends', 'prometheus-alertmanager'];
  // A stale package index is the usual reason for a failed install: refresh it once.
  if (!run(install) && !(run(['update']) && run(install))) {
    throw new Error('apt-get install prometheus-alertmanager failed (see above)');
  }
  // The package starts a system service on Debian; the bench runs its own instance.
  spawnSync('systemctl', ['stop', 'prometheus-alertmanager'], { stdio: 'ignore' });
  if (!existsSync(ALERTMANAGER_BIN)) throw new Error(`${ALERTMANAGER_BIN} missing after install`);
}

export function alertmanagerVersion(): string {
  const r = spawnSync(ALERTMANAGER_BIN, ['--version'], { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return /version (\S+)/.exec(text)?.[1] ?? 'unknown';
}

export interface AmAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly startsAt: string;
  readonly generatorURL: string;
}

/** The alert numbered `id`, shaped like a Prometheus rule's alert (labels distinct per alert). */
export function amAlert(id: string, group: number, startsAt: string): AmAlert {
  return {
    labels: {
      alertname: 'BenchTemperatureHigh',
      severity: 'critical',
      group: String(group),
      device: `d${id}`,
      bench_id: id,
    },
    annotations: { summary: `temperature high on d${id}` },
    startsAt,
    generatorURL: 'http://127.0.0.1/bench',
  };
}

export class Alertmanager {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    private readonly tail: string[],
  ) {}

  static async start(webhookUrl: string): Promise<Alertmanager> {
    const dir = mkdtempSync(join(tmpdir(), 'gito-bench-am-'));
    const config = join(dir, 'alertmanager.yml');
    writeFileSync(
      config,
      [
        'route:',
        '  receiver: bench',
        "  group_by: ['...']",
        '  group_wait: 0s',
        '  group_interval: 1h',
        '  repeat_interval: 24h',
        'receivers:',
        '  - name: bench',
        '    webhook_configs:',
        `      - url: ${webhookUrl}`,
        '        send_resolved: false',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const child = track(
      spawn(
        ALERTMANAGER_BIN,
        [
          `--config.file=${config}`,
          `--storage.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--cluster.listen-address=',
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    const tail: string[] = [];
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (line === '') continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    });
    const am = new Alertmanager(child, dir, port, tail);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        await am.stop();
        throw new Error(`alertmanager exited before it was ready:\n${tail.join('\n')}`);
      }
      const status = await am.get('/-/ready').catch(() => 0);
      if (status === 200) break;
      if (Date.now() > deadline) {
        await am.stop();
        throw new Error(`alertmanager not ready in 30 s:\n${tail.join('\n')}`);
      }
      await sleep(50);
    }
    return am;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Last lines Alertmanager logged (warnings and errors only). */
  logTail(): string {
    return this.tail.join('\n');
  }

  private get(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: this.port, path, method: 'GET', agent: this.agent },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.setTimeout(2_000, () => req.destroy(new Error('timeout')));
      req.end();
    });
  }

  /** POST /api/v2/alerts; rejects unless 200. */
  post(alerts: readonly AmAlert[]): Promise<void> {
    const body = JSON.stringify(alerts);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/api/v2/alerts',
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 200) resolve();
            else
              reject(
                new Error(`POST /api/v2/alerts: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`),
              );
          });
        },
      );
      req.on('error', reject);
      req.setTimeout(30_000, () =>
        req.destroy(new Error('POST /api/v2/alerts: no answer in 30 s')),
      );
      req.end(body);
    });
  }

  /** CPU time Alertmanager used so far (user + system, ms), from /proc. */
  cpuMs(): number {
    return procCpuMs(this.child.pid);
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await stopChild(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** utime + stime of a process in ms (Linux /proc; 0 elsewhere). */
export function procCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  // USER_HZ is 100 on Linux x86-64.
  return Number.isFinite(ticks) ? ticks * 10 : 0;
}
