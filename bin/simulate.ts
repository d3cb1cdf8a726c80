#!/usr/bin/env -S node --import tsx
import { parseArgs } from 'node:util';
import { startSimulator } from '../app/simulator.ts';

const USAGE = `usage: npm run simulate -- [options]

  --devices N        simulated devices (default 100)
  --rate R           messages per second, all devices together (default 50)
  --tenant T         tenant id (default demo: auto-provisions devices in the embedded default)
  --url URL          MQTT broker (default: GITO_MQTT_URL, else the one a local gito start reports)
  --duration S       stop after S seconds (default: run until Ctrl-C)
  --anomaly-rate P   probability of an anomalous reading (default 0)

While it runs, type "a" and Enter to inject anomalies for a few seconds.
`;

async function brokerUrl(explicit: string | undefined): Promise<string> {
  if (explicit !== undefined) return explicit;
  if (process.env.GITO_MQTT_URL) return process.env.GITO_MQTT_URL;
  // A local `gito start` may have moved its broker off 1883 (port taken): ask it.
  const port = process.env.GITO_HTTP_PORT || '8080';
  try {
    const res = await fetch(`http://127.0.0.1:${port}/status`);
    const status = (await res.json()) as { mqtt?: string };
    if (typeof status.mqtt === 'string') return status.mqtt;
  } catch {
    // no local node answering: fall back to the standard port
  }
  return 'mqtt://127.0.0.1:1883';
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '100' },
      rate: { type: 'string', default: '50' },
      tenant: { type: 'string', default: 'demo' },
      url: { type: 'string' },
      duration: { type: 'string', default: '0' },
      'anomaly-rate': { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const number = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${name} ${raw}: expected a number >= ${min}`);
    return n;
  };
  const simulator = await startSimulator({
    url: await brokerUrl(values.url),
    tenant: values.tenant,
    devices: Math.floor(number('devices', values.devices, 1)),
    rate: number('rate', values.rate, 0.1),
    durationSeconds: number('duration', values.duration, 0),
    anomalyRate: number('anomaly-rate', values['anomaly-rate'], 0),
    log: (line) => process.stderr.write(`simulate: ${line}\n`),
  });
  if (process.stdin.isTTY) {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      if (chunk.trim() === 'a') simulator.injectAnomalies();
    });
  }
  process.once('SIGINT', () => void simulator.stop());
  process.once('SIGTERM', () => void simulator.stop());
  await simulator.done;
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `simulate: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`,
    );
    process.exit(2);
  },
);
