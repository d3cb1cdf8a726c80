import mqtt, { type MqttClient } from 'mqtt';

export interface SimulatorOptions {
  readonly url: string;
  readonly tenant: string;
  readonly devices: number;
  /** Messages per second, all devices together. */
  readonly rate: number;
  /** Stop after this many seconds (0 = until stopped). */
  readonly durationSeconds: number;
  /** Probability per message of an anomalous reading (spike). */
  readonly anomalyRate: number;
  readonly log: (line: string) => void;
}

export interface Simulator {
  /** The next round of readings carries anomalies for a tenth of the devices. */
  injectAnomalies(): void;
  stop(): Promise<{ sent: number }>;
  readonly done: Promise<{ sent: number }>;
}

/**
 * A fleet of simulated devices publishing JSON telemetry over MQTT (QoS 1) to
 * `{tenant}/devices/{device}/telemetry`: temperature, humidity, battery draining slowly, a
 * firmware version, and on demand anomalies (temperature spikes, humidity out of range).
 */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const client: MqttClient = await mqtt.connectAsync(options.url, {
    clientId: `gito-sim-${process.pid}`,
  });
  const width = String(options.devices - 1).length;
  const devices = Array.from({ length: options.devices }, (_, i) => ({
    key: `sim-${String(i).padStart(width, '0')}`,
    base: 18 + Math.random() * 6,
    battery: 0.6 + Math.random() * 0.4,
  }));
  let sent = 0;
  let anomalyBurst = 0;
  let stopped = false;
  const started = Date.now();
  const tickMs = 100;
  const perTick = Math.max(1, Math.round((options.rate * tickMs) / 1000));
  let next = 0;
  let resolveDone!: (r: { sent: number }) => void;
  const done = new Promise<{ sent: number }>((resolve) => {
    resolveDone = resolve;
  });

  const publishOne = () => {
    const device = devices[next++ % devices.length]!;
    device.battery = Math.max(0, device.battery - 0.00001);
    const anomalous = anomalyBurst > 0 ? Math.random() < 0.1 : Math.random() < options.anomalyRate;
    const payload = {
      ts: Date.now(),
      temperature:
        Math.round((device.base + Math.sin(Date.now() / 60_000) + (anomalous ? 40 : 0)) * 10) / 10,
      humidity: anomalous ? 140 : Math.round(40 + Math.random() * 20),
      battery: Math.round(device.battery * 1000) / 1000,
      fw: '1.4.2',
    };
    client.publish(`${options.tenant}/devices/${device.key}/telemetry`, JSON.stringify(payload), {
      qos: 1,
    });
    sent++;
  };

  const timer = setInterval(() => {
    if (stopped) return;
    for (let i = 0; i < perTick; i++) publishOne();
    if (anomalyBurst > 0) anomalyBurst--;
    if (options.durationSeconds > 0 && Date.now() - started >= options.durationSeconds * 1000)
      void stop();
  }, tickMs);
  const report = setInterval(
    () => options.log(`sent ${sent} readings from ${options.devices} devices`),
    5_000,
  );

  const stop = async () => {
    if (!stopped) {
      stopped = true;
      clearInterval(timer);
      clearInterval(report);
      await client.endAsync();
      options.log(`stopped after ${sent} readings`);
      resolveDone({ sent });
    }
    return done;
  };
  options.log(
    `simulating ${options.devices} devices of tenant '${options.tenant}' at ${options.rate} msg/s to ${options.url}`,
  );
  return {
    injectAnomalies: () => {
      anomalyBurst = Math.round(1000 / tickMs) * 3; // three seconds of anomalies
      options.log('injecting anomalies for 3 s');
    },
    stop,
    done,
  };
}
