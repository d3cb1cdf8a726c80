import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private Mosquitto configured like production (deploy/mosquitto/gito.conf) but on a free
 * loopback port and without persistence on disk: the tests and benchmarks each start their own,
 * so they never depend on or disturb a shared broker's configuration.
 */
export class PrivateMosquitto {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'gito-mosquitto-'));
  /** The settings that matter for the figures, as written to the config file. */
  settings: Record<string, string> = {};

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateMosquitto> {
    const broker = new PrivateMosquitto(await freePort());
    try {
      await broker.start();
    } catch (err) {
      await broker.stop();
      throw err;
    }
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async start(): Promise<void> {
    const conf = readFileSync('deploy/mosquitto/gito.conf', 'utf8')
      .replace(/^listener .*$/m, `listener ${this.port} 127.0.0.1`)
      .replace(/^persistence .*$/m, 'persistence false')
      .replace(/^autosave_interval .*$/m, '');
    for (const key of ['max_queued_messages', 'max_queued_bytes', 'max_inflight_messages']) {
      const m = new RegExp(`^${key}\\s+(\\S+)`, 'm').exec(conf);
      this.settings[key] = m?.[1] ?? '(default)';
    }
    const file = join(this.dir, 'mosquitto.conf');
    writeFileSync(file, conf);
    const child = spawn('mosquitto', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    const started = Date.now();
    while (!(await canConnect(this.port))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr.trim()}`);
      if (Date.now() - started > 5_000) throw new Error(`mosquitto did not start on ${this.port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last resort from a process 'exit' handler (synchronous). */
  killNow(): void {
    if (this.child !== undefined && this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === 'object' && address !== null ? address.port : 0),
      );
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}
