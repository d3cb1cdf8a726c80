import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where the Debian package `prometheus` installs its binaries. */
export const PROMETHEUS_BIN = process.env.GITO_TEST_PROMETHEUS ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.GITO_TEST_PROMTOOL ?? '/usr/bin/promtool';

/**
 * The test setup installs Prometheus (Debian package, with promtool) when it is absent, as
 * .ci/run does; a machine where that is impossible gets an error that says what to install.
 */
function ensurePrometheus(): void {
  if (existsSync(PROMETHEUS_BIN) && existsSync(PROMTOOL_BIN)) return;
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    });
  } catch (err) {
    throw new Error(
      `Prometheus is needed by the dashboard tests and could not be installed (${String(err)}): ` +
        'install the Debian package prometheus, or set GITO_TEST_PROMETHEUS and GITO_TEST_PROMTOOL',
    );
  }
}
ensurePrometheus();

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export interface QueryResult {
  readonly status: 'success' | 'error';
  readonly errorType?: string;
  readonly error?: string;
  readonly warnings?: string[];
  readonly data?: { resultType: string; result: unknown[] };
}

/** A Prometheus server on loopback, scraping `targets` every second, storage in a temp dir. */
export class TestPrometheus {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: () => string,
  ) {}

  static async start(targets: readonly string[]): Promise<TestPrometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'gito-prometheus-'));
    const port = await freePort();
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: gito',
        '    static_configs:',
        `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const child = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const prometheus = new TestPrometheus(`http://127.0.0.1:${port}`, child, dir, () => output);
    try {
      await prometheus.until('ready', async () => (await fetch(`${prometheus.url}/-/ready`)).ok);
    } catch (err) {
      await prometheus.stop();
      throw err;
    }
    return prometheus;
  }

  /** Polls `check` every 200 ms, 150 times at most (a readiness wait, not a timing assertion). */
  async until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 150; i++) {
      if (this.child.exitCode !== null) {
        throw new Error(`prometheus exited (${this.child.exitCode}):\n${this.output()}`);
      }
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`prometheus: gave up waiting for ${what}\n${this.output()}`);
  }

  /** Waits until every target has been scraped successfully at least `scrapes` times. */
  async untilScraped(targets: number, scrapes: number): Promise<void> {
    await this.until(`${scrapes} scrapes of ${targets} targets`, async () => {
      const r = await this.query('sum_over_time(up[1m])');
      const counts = (r.data?.result ?? []) as Array<{ value: [number, string] }>;
      return counts.length === targets && counts.every((c) => Number(c.value[1]) >= scrapes);
    });
  }

  async query(expr: string): Promise<QueryResult> {
    const response = await fetch(`${this.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    return (await response.json()) as QueryResult;
  }

  /** What Grafana asks for a label_values(metric, label) variable. */
  async labelValues(
    label: string,
    match: string,
  ): Promise<{ status: 'success' | 'error'; error?: string; data?: string[] }> {
    const params = new URLSearchParams({ 'match[]': match });
    const response = await fetch(`${this.url}/api/v1/label/${label}/values?${params}`);
    return (await response.json()) as { status: 'success' | 'error'; data?: string[] };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
