import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from '../runtime/index.ts';

export interface EmbeddedBroker {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * The in-process MQTT broker of the embedded default (aedes, MQTT 3.1.1). Devices publish to it
 * on `host:port`; the node's ingestion subscribes to it like to any broker. It keeps sessions in
 * memory only: fine for one process on a laptop, not for production (use Mosquitto or EMQX,
 * docs/ingestion.md).
 */
export async function startEmbeddedBroker(options: {
  host: string;
  port: number;
  logger: Logger;
  /** When the port is taken, listen on a free one instead of failing (only for the default). */
  fallbackToFreePort?: boolean;
}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  try {
    await listen(server, options.port, options.host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !options.fallbackToFreePort) {
      broker.close();
      throw new Error(
        `MQTT port ${options.port} on ${options.host} is in use (another broker?): set GITO_MQTT_PORT, or GITO_MQTT_URL to use that broker`,
      );
    }
    // The default port is taken (often by a system Mosquitto): use any free one and say which.
    await listen(server, 0, options.host);
    options.logger.warn(
      { wanted: options.port },
      'default MQTT port in use; embedded broker moved',
    );
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const url = `mqtt://${options.host}:${port}`;
  options.logger.info({ url }, 'embedded MQTT broker listening');
  return {
    url,
    stop: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
