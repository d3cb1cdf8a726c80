import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, registerDevices } from '../../../db/devices/registry.ts';
import { createPool, prepareDatabase } from '../../../db/index.ts';
import { bootstrapKey } from '../../../gateway/bootstrap.ts';
import { createTestDatabase } from '../../db/helpers.ts';
import { ProcessCluster } from './harness.ts';

/**
 * `gito gateway` as its own process: a cluster member that hosts no actors, serving the API by
 * reaching device actors on the node that owns them.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';

let db: { url: string; drop(): Promise<void> };
let pool: ReturnType<typeof createPool>;
let cluster: ProcessCluster | undefined;
let gateway: ReturnType<typeof spawn> | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url);
  await prepareDatabase(pool);
  await createTenant(pool, { id: 'acme' });
  await registerDevices(pool, 'acme', [{ key: 'pump-1' }]);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});
afterEach(async () => {
  if (gateway !== undefined && gateway.exitCode === null) {
    gateway.kill('SIGKILL');
    await once(gateway, 'exit');
  }
  gateway = undefined;
  await cluster?.close();
  cluster = undefined;
});

async function startGatewayProcess(clusterName: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/gito.ts', 'gateway'], {
    env: {
      ...process.env,
      GITO_NODE_ID: 'gw-1',
      GITO_CLUSTER_NAME: clusterName,
      GITO_REDIS_URL: REDIS_URL,
      GITO_DATABASE_URL: db.url,
      GITO_HTTP_PORT: '0',
      GITO_GRPC_LISTEN: '127.0.0.1:0',
      GITO_HEARTBEAT_INTERVAL_MS: '100',
      GITO_MISSED_HEARTBEATS: '4',
      GITO_TOKEN_SECRET: 'a-test-secret-of-at-least-thirty-two-bytes',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway = child;
  const logs: string[] = [];
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`gateway did not start:\n${logs.join('')}`)),
      30_000,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      if (line.includes('"gito gateway started"')) {
        clearTimeout(timer);
        resolve(JSON.parse(line).httpUrl as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${logs.join('\n')}`));
    });
  });
}

describe('gito gateway', () => {
  it('serves device status from actors hosted by the nodes, and hosts none itself', async () => {
    cluster = new ProcessCluster(REDIS_URL, db.url);
    const n1 = await cluster.start('n1');
    await cluster.converged(['n1']);
    const url = await startGatewayProcess(cluster.name);
    const { key } = await bootstrapKey(pool, 'acme', { role: 'admin', name: 'test' });
    const auth = { authorization: `Bearer ${key}` };

    // A reading told to the device actor (it lives on n1: the gateway is never an owner).
    expect(await cluster.owner(n1, 'device/acme:pump-1')).toBe('n1');
    const at = Date.now();
    const told = await cluster.ask(n1, 'device/acme:pump-1', {
      type: 'telemetry',
      ts: at,
      metrics: { temp: 21.5 },
      receivedAt: at,
    });
    expect(told.ok).toBe(true);

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    const devices = (await (await fetch(`${url}/api/v1/devices`, { headers: auth })).json()) as {
      items: Array<{ id: string; key: string }>;
    };
    const id = devices.items.find((d) => d.key === 'pump-1')?.id;
    const status = await fetch(`${url}/api/v1/devices/${id}/status`, { headers: auth });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ online: true, metrics: { temp: { value: 21.5 } } });
    const gatewayStatus = (await (await fetch(`${url}/status`)).json()) as { settled: boolean };
    expect(gatewayStatus.settled).toBe(true);
    // The node still owns everything: the gateway is a member that placement never picks.
    expect((await cluster.state(n1)).members.sort()).toEqual(['gw-1', 'n1']);
    expect(await cluster.owner(n1, 'device/acme:pump-2')).toBe('n1');
  });
});
