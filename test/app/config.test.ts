import { describe, expect, it } from 'vitest';
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  requireClusterServices,
} from '../../app/config.ts';

describe('configuration', () => {
  it('has defaults for everything', () => {
    const config = loadConfig({}, 'box');
    expect(config.httpPort).toBe(8080);
    expect(config.httpHost).toBe('127.0.0.1');
    expect(config.nodeId).toMatch(/^node-box-\d+$/);
    expect(config.actorIdleTimeoutMs).toBe(600_000);
  });

  it('reads every documented variable', () => {
    const config = loadConfig({
      GITO_NODE_ID: 'n1',
      GITO_HTTP_HOST: '0.0.0.0',
      GITO_HTTP_PORT: '9000',
      GITO_LOG_LEVEL: 'debug',
      GITO_DATA_DIR: '/var/lib/gito',
      GITO_ACTOR_IDLE_TIMEOUT_MS: '1000',
      GITO_ASK_TIMEOUT_MS: '250',
      GITO_MAILBOX_CAPACITY: '5',
      GITO_SHUTDOWN_TIMEOUT_MS: '2000',
    });
    expect(config).toMatchObject({
      nodeId: 'n1',
      httpHost: '0.0.0.0',
      httpPort: 9000,
      logLevel: 'debug',
      dataDir: '/var/lib/gito',
      actorIdleTimeoutMs: 1000,
      askTimeoutMs: 250,
      mailboxCapacity: 5,
      shutdownTimeoutMs: 2000,
    });
  });

  it('reads the cluster settings and accepts every documented variable', () => {
    const env = Object.fromEntries(CONFIG_VARIABLES.map((v) => [v.name, '']));
    Object.assign(env, {
      GITO_NODE_ID: 'n2',
      GITO_REDIS_URL: 'redis://127.0.0.1:6379',
      GITO_DATABASE_URL: 'postgres://gito@127.0.0.1:5432/gito',
      GITO_GRPC_LISTEN: '0.0.0.0:7070',
      GITO_GRPC_ADVERTISE: 'node2.internal:7070',
      GITO_GRPC_TLS_CERT: '/etc/gito/node.pem',
      GITO_GRPC_TLS_KEY: '/etc/gito/node.key',
      GITO_GRPC_TLS_CA: '/etc/gito/ca.pem',
      GITO_GRPC_MTLS: 'true',
    });
    const config = loadConfig(env);
    expect(config.cluster).toMatchObject({
      name: 'gito',
      redisUrl: 'redis://127.0.0.1:6379',
      grpcListen: '0.0.0.0:7070',
      grpcAdvertise: 'node2.internal:7070',
      tls: { certFile: '/etc/gito/node.pem', mutual: true },
    });
    expect(requireClusterServices(config).redisUrl).toBe('redis://127.0.0.1:6379');
    expect(() => requireClusterServices(loadConfig({}))).toThrow(/GITO_REDIS_URL is required/);
    expect(() => loadConfig({ GITO_GRPC_TLS_CERT: '/x' })).toThrow(/must be set together/);
    expect(() => loadConfig({ GITO_REDIS_URL: 'http://x' })).toThrow(
      /GITO_REDIS_URL: expected a redis/,
    );
  });

  it('collects every problem into one error', () => {
    const err = (() => {
      try {
        loadConfig({ GITO_HTTP_PORT: '70000', GITO_LOG_LEVEL: 'loud', GITO_NODE_ID: 'a b' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toHaveLength(3);
  });
});
