import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function startGito(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/gito.ts', 'start'], {
    env: { ...process.env, GITO_HTTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  const started = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'gito started (embedded default)') resolve(String(entry.url));
    });
    child.once('exit', (code) => reject(new Error(`gito exited early with ${code}`)));
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { child, started, lines, stderr: () => stderr };
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
