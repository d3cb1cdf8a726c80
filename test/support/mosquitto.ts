import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private Mosquitto for one test file, configured like production (deploy/mosquitto/gito.conf)
 * but on a free loopback port and without persistence on disk, so tests never depend on or
 * disturb the shared broker's configuration.
 */
export class OwnMosquitto {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'gito-mosquitto-'));

  private constructor(readonly port: number) {}

  static async start(): Promise<OwnMosquitto> {
    const broker = new OwnMosquitto(await freePort());
    await broker.start();
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const base = readFileSync('deploy/mosquitto/gito.conf', 'utf8')
      .replace(/^listener .*$/m, `listener ${this.port} 127.0.0.1`)
      .replace(/^persistence .*$/m, 'persistence false')
      .replace(/^autosave_interval .*$/m, '');
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(conf, base);
    this.child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    const started = Date.now();
    while (!(await canConnect(this.port))) {
      if (Date.now() - started > 5_000) throw new Error(`mosquitto did not start on ${this.port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(this.dir, { recursive: true, force: true });
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
