import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gito-start-'));
  dirs.push(dir);
  return dir;
}

function startGito(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/gito.ts', 'start'], {
    env: {
      ...process.env,
      GITO_HTTP_PORT: '0',
      GITO_MQTT_PORT: '0',
      GITO_DATA_DIR: dataDir(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  let mqttUrl = '';
  const started = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'gito started (embedded default)') {
        mqttUrl = String(entry.mqtt);
        resolve(String(entry.url));
      }
    });
    child.once('exit', (code) => reject(new Error(`gito exited early with ${code}`)));
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { child, started, lines, stderr: () => stderr, mqttUrl: () => mqttUrl };
}

describe('npm start (embedded default)', () => {
  it('serves health, readiness and metrics, then stops cleanly on SIGTERM', async () => {
    const gito = startGito({ GITO_NODE_ID: 'start-test' });
    const url = await gito.started;
    const health = await fetch(`${url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok', node: 'start-test' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('gito_actor_messages_total');
    expect(metrics).toContain('process_resident_memory_bytes');

    // Telemetry flows through the in-process broker into embedded PostgreSQL and a device actor;
    // the demo tenant auto-provisions devices on first sight.
    const publisher = await mqtt.connectAsync(gito.mqttUrl());
    for (let i = 0; i < 3; i++) {
      await publisher.publishAsync(
        'demo/devices/sensor-1/telemetry',
        JSON.stringify({ temperature: 20 + i }),
        { qos: 1 },
      );
    }
    await publisher.publishAsync('demo/devices/sensor-1/telemetry', '{broken', { qos: 1 });
    await publisher.endAsync();
    let status: { actors: number; ingest: Record<string, number> } = { actors: 0, ingest: {} };
    for (let i = 0; i < 100 && status.ingest.rowsWritten !== 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await (await fetch(`${url}/status`)).json()) as typeof status;
    }
    expect(status.ingest).toMatchObject({ accepted: 3, rejected: 1, rowsWritten: 3 });
    expect(status.actors).toBe(1);
    gito.child.kill('SIGTERM');
    const [code] = await once(gito.child, 'exit');
    expect(code).toBe(0);
    expect(gito.lines.some((l) => l.msg === 'gito stopped')).toBe(true);
  });

  it('refuses a bad configuration with a message naming the variable', async () => {
    const gito = startGito({ GITO_HTTP_PORT: 'eighty', GITO_LOG_LEVL: 'debug' });
    const [code] = await once(gito.child, 'exit');
    expect(code).toBe(78);
    expect(gito.stderr()).toContain('GITO_HTTP_PORT="eighty": expected an integer');
    expect(gito.stderr()).toContain('GITO_LOG_LEVL is not a Gito setting');
    await gito.started.catch(() => undefined);
  });
});
