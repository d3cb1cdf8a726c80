/**
 * Configuration from environment variables. Every variable Gito reads is declared here once, with
 * its default and a check, so a typo or a bad value stops the process at start with a message
 * naming the variable (rather than failing later, far from the cause).
 */
export interface GitoConfig {
  readonly nodeId: string;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly dataDir: string;
  readonly actorIdleTimeoutMs: number;
  readonly askTimeoutMs: number;
  readonly mailboxCapacity: number;
  readonly shutdownTimeoutMs: number;
}

export interface ConfigVariable {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

/** The documented catalogue (README and docs/operations.md are checked against it). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  {
    name: 'GITO_NODE_ID',
    default: 'node-<hostname>-<pid>',
    description: 'Unique id of this node in the cluster',
  },
  {
    name: 'GITO_HTTP_HOST',
    default: '127.0.0.1',
    description: 'Address the HTTP gateway listens on',
  },
  { name: 'GITO_HTTP_PORT', default: '8080', description: 'HTTP port (0 picks a free port)' },
  {
    name: 'GITO_LOG_LEVEL',
    default: 'info',
    description: 'fatal, error, warn, info, debug, trace or silent',
  },
  {
    name: 'GITO_DATA_DIR',
    default: './data',
    description: 'Folder for embedded data (embedded PostgreSQL)',
  },
  {
    name: 'GITO_ACTOR_IDLE_TIMEOUT_MS',
    default: '600000',
    description: 'Idle time before an actor passivates',
  },
  { name: 'GITO_ASK_TIMEOUT_MS', default: '5000', description: 'Default deadline of an ask' },
  {
    name: 'GITO_MAILBOX_CAPACITY',
    default: '10000',
    description: 'Default mailbox bound per actor',
  },
  {
    name: 'GITO_SHUTDOWN_TIMEOUT_MS',
    default: '15000',
    description: 'Longest a graceful shutdown may take',
  },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, hostname = 'local'): GitoConfig {
  const problems: string[] = [];
  const known = new Set(CONFIG_VARIABLES.map((v) => v.name));
  for (const name of Object.keys(env)) {
    if (name.startsWith('GITO_') && !known.has(name)) {
      problems.push(`${name} is not a Gito setting (known: ${[...known].join(', ')})`);
    }
  }

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };

  const logLevel = env.GITO_LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(
      `GITO_LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  const nodeId = env.GITO_NODE_ID ?? `node-${hostname}-${process.pid}`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) {
    problems.push(
      `GITO_NODE_ID=${JSON.stringify(nodeId)}: use 1-64 letters, digits, '.', '_' or '-'`,
    );
  }

  const config: GitoConfig = {
    nodeId,
    httpHost: env.GITO_HTTP_HOST ?? '127.0.0.1',
    httpPort: int('GITO_HTTP_PORT', 8080, 0, 65_535),
    logLevel: logLevel as GitoConfig['logLevel'],
    dataDir: env.GITO_DATA_DIR ?? './data',
    actorIdleTimeoutMs: int('GITO_ACTOR_IDLE_TIMEOUT_MS', 600_000, 0, 7 * 24 * 3_600_000),
    askTimeoutMs: int('GITO_ASK_TIMEOUT_MS', 5_000, 1, 3_600_000),
    mailboxCapacity: int('GITO_MAILBOX_CAPACITY', 10_000, 1, 10_000_000),
    shutdownTimeoutMs: int('GITO_SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
