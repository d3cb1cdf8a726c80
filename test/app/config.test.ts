import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../app/config.ts';

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
    expect(config).toEqual({
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
    expect(CONFIG_VARIABLES.map((v) => v.name).sort()).toEqual(
      Object.keys({
        GITO_NODE_ID: 1,
        GITO_HTTP_HOST: 1,
        GITO_HTTP_PORT: 1,
        GITO_LOG_LEVEL: 1,
        GITO_DATA_DIR: 1,
        GITO_ACTOR_IDLE_TIMEOUT_MS: 1,
        GITO_ASK_TIMEOUT_MS: 1,
        GITO_MAILBOX_CAPACITY: 1,
        GITO_SHUTDOWN_TIMEOUT_MS: 1,
      }).sort(),
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
