import { NOTIFY_CONFIG_VARIABLES } from '../actors/notify/config.ts';
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
  readonly cluster: ClusterConfig;
  readonly ingest: IngestConfig;
  readonly gateway: GatewayConfig;
}

/** The HTTP API's settings. */
export interface GatewayConfig {
  /** HMAC key of user tokens; undefined: a random one per process (tokens die with it). */
  readonly tokenSecret: string | undefined;
  /** Requests per minute per API key, user or client address. */
  readonly rateLimitPerMinute: number;
}

/** MQTT ingestion and device settings. */
export interface IngestConfig {
  /** External broker; undefined in `gito start` means the in-process broker. */
  readonly mqttUrl: string | undefined;
  /** Port of the in-process broker of `gito start`. */
  readonly mqttPort: number;
  /** GITO_MQTT_PORT was set: a taken port is an error rather than a reason to pick another. */
  readonly mqttPortExplicit: boolean;
  /** Shared-subscription group for `gito node` ('' subscribes directly). */
  readonly mqttShareGroup: string;
  readonly maxPayloadBytes: number;
  readonly deviceRatePerSecond: number;
  readonly deviceRateBurst: number;
  readonly deviceOfflineAfterMs: number;
  /** Longest a telemetry row waits for its batch to be written. */
  readonly flushMs: number;
}

/** Settings of cluster mode (`gito node`); unused by the embedded default. */
export interface ClusterConfig {
  readonly name: string;
  readonly redisUrl: string | undefined;
  readonly databaseUrl: string | undefined;
  readonly grpcListen: string;
  readonly grpcAdvertise: string | undefined;
  readonly heartbeatIntervalMs: number;
  readonly missedHeartbeats: number;
  readonly tls: { certFile: string; keyFile: string; caFile: string; mutual: boolean } | undefined;
  /** Append activation/deactivation events as JSON lines here (proofs of single activation). */
  readonly lifecycleLog: string | undefined;
}

export interface ConfigVariable {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

/** The documented catalogue (README and docs/operations.md are checked against it). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  // Notification channels and delivery (actors/notify/config.ts parses them).
  ...NOTIFY_CONFIG_VARIABLES,
  {
    name: 'GITO_SECRET_KEY',
    default: '',
    description:
      'Key encrypting stored secrets (32 bytes, base64: openssl rand -base64 32); required in production',
  },
  {
    name: 'GITO_SECRET_KEYS_PREVIOUS',
    default: '',
    description: 'Former secret keys, comma-separated, still accepted for reading (key rotation)',
  },
  {
    name: 'GITO_PUBLIC_URL',
    default: '',
    description: 'Dashboard URL used for links in notifications (e.g. https://gito.example.com)',
  },
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
  {
    name: 'GITO_CLUSTER_NAME',
    default: 'gito',
    description: 'Nodes with the same name and Redis form one cluster',
  },
  {
    name: 'GITO_REDIS_URL',
    default: '',
    description: 'Redis for membership (required by gito node)',
  },
  { name: 'GITO_DATABASE_URL', default: '', description: 'PostgreSQL URL (required by gito node)' },
  {
    name: 'GITO_GRPC_LISTEN',
    default: '127.0.0.1:7070',
    description: 'host:port of the node-to-node gRPC transport',
  },
  {
    name: 'GITO_GRPC_ADVERTISE',
    default: '',
    description: 'host:port other nodes dial (default: listen)',
  },
  {
    name: 'GITO_HEARTBEAT_INTERVAL_MS',
    default: '1000',
    description: 'Membership heartbeat interval',
  },
  {
    name: 'GITO_MISSED_HEARTBEATS',
    default: '3',
    description: 'Heartbeats missed before a node is dead',
  },
  {
    name: 'GITO_GRPC_TLS_CERT',
    default: '',
    description: 'PEM certificate chain (enables TLS between nodes)',
  },
  { name: 'GITO_GRPC_TLS_KEY', default: '', description: 'PEM private key of this node' },
  { name: 'GITO_GRPC_TLS_CA', default: '', description: 'PEM CA bundle peers must chain to' },
  {
    name: 'GITO_GRPC_MTLS',
    default: 'false',
    description: 'true: require client certificates (mTLS)',
  },
  {
    name: 'GITO_LIFECYCLE_LOG',
    default: '',
    description: 'Append activation events (JSON lines) here',
  },
  {
    name: 'GITO_MQTT_URL',
    default: '',
    description: 'External MQTT broker (gito start: in-process when unset)',
  },
  {
    name: 'GITO_MQTT_PORT',
    default: '1883',
    description: 'Port of the in-process broker of gito start',
  },
  {
    name: 'GITO_MQTT_SHARE_GROUP',
    default: 'gito',
    description: "Shared-subscription group of gito node ('' = none)",
  },
  {
    name: 'GITO_INGEST_MAX_PAYLOAD_BYTES',
    default: '262144',
    description: 'Largest telemetry payload accepted',
  },
  {
    name: 'GITO_DEVICE_RATE_LIMIT',
    default: '10',
    description: 'Messages per second a device may send (sustained)',
  },
  {
    name: 'GITO_DEVICE_RATE_BURST',
    default: '20',
    description: 'Messages a device may send in a burst',
  },
  {
    name: 'GITO_DEVICE_OFFLINE_AFTER_MS',
    default: '600000',
    description: 'Silence after which a device is offline',
  },
  {
    name: 'GITO_INGEST_FLUSH_MS',
    default: '20',
    description: 'Longest a reading waits for its batch to be written',
  },
  {
    name: 'GITO_TOKEN_SECRET',
    default: '',
    description: 'Key signing user tokens, 32+ characters, same on every gateway (random if unset)',
  },
  {
    name: 'GITO_API_RATE_LIMIT',
    default: '6000',
    description: 'API requests per minute per key, user or client address',
  },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(
  rawEnv: NodeJS.ProcessEnv = process.env,
  hostname = 'local',
): GitoConfig {
  const problems: string[] = [];
  // An empty variable means "not set" (compose files and shells produce them freely).
  const env = Object.fromEntries(
    Object.entries(rawEnv).filter(([, v]) => v !== undefined && v !== ''),
  );
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

  const hostPort = (name: string, fallback: string | undefined): string | undefined => {
    const raw = env[name] === '' ? undefined : (env[name] ?? fallback);
    if (raw !== undefined && !/^[^\s:]+:\d{1,5}$/.test(raw)) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected host:port`);
    }
    return raw;
  };
  const url = (name: string, protocols: readonly string[]): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        problems.push(`${name}: expected a ${protocols.join(' or ')} URL, got ${parsed.protocol}`);
      }
    } catch {
      problems.push(`${name}: not a valid URL`);
    }
    return raw;
  };
  const tlsFiles = ['GITO_GRPC_TLS_CERT', 'GITO_GRPC_TLS_KEY', 'GITO_GRPC_TLS_CA'].map(
    (n) => env[n] || undefined,
  );
  const tlsSet = tlsFiles.filter((f) => f !== undefined).length;
  if (tlsSet !== 0 && tlsSet !== 3) {
    problems.push(
      'GITO_GRPC_TLS_CERT, GITO_GRPC_TLS_KEY and GITO_GRPC_TLS_CA must be set together',
    );
  }
  const mtls = env.GITO_GRPC_MTLS ?? 'false';
  if (mtls !== 'true' && mtls !== 'false')
    problems.push(`GITO_GRPC_MTLS=${JSON.stringify(mtls)}: expected true or false`);
  const clusterName = env.GITO_CLUSTER_NAME ?? 'gito';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(clusterName)) {
    problems.push(
      `GITO_CLUSTER_NAME=${JSON.stringify(clusterName)}: use 1-64 letters, digits, '.', '_' or '-'`,
    );
  }

  const tokenSecret = env.GITO_TOKEN_SECRET;
  if (tokenSecret !== undefined && Buffer.byteLength(tokenSecret) < 32) {
    problems.push('GITO_TOKEN_SECRET: use at least 32 characters (e.g. openssl rand -hex 32)');
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
    cluster: {
      name: clusterName,
      redisUrl: url('GITO_REDIS_URL', ['redis:', 'rediss:']),
      databaseUrl: url('GITO_DATABASE_URL', ['postgres:', 'postgresql:']),
      grpcListen: hostPort('GITO_GRPC_LISTEN', '127.0.0.1:7070') ?? '127.0.0.1:7070',
      grpcAdvertise: hostPort('GITO_GRPC_ADVERTISE', undefined),
      heartbeatIntervalMs: int('GITO_HEARTBEAT_INTERVAL_MS', 1_000, 10, 60_000),
      missedHeartbeats: int('GITO_MISSED_HEARTBEATS', 3, 2, 100),
      tls:
        tlsSet === 3
          ? {
              certFile: tlsFiles[0]!,
              keyFile: tlsFiles[1]!,
              caFile: tlsFiles[2]!,
              mutual: mtls === 'true',
            }
          : undefined,
      lifecycleLog: env.GITO_LIFECYCLE_LOG || undefined,
    },
    ingest: {
      mqttUrl: url('GITO_MQTT_URL', ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']),
      mqttPort: int('GITO_MQTT_PORT', 1_883, 0, 65_535),
      mqttPortExplicit: env.GITO_MQTT_PORT !== undefined,
      mqttShareGroup:
        rawEnv.GITO_MQTT_SHARE_GROUP === '' ? '' : (env.GITO_MQTT_SHARE_GROUP ?? 'gito'),
      maxPayloadBytes: int('GITO_INGEST_MAX_PAYLOAD_BYTES', 262_144, 64, 16 * 1024 * 1024),
      deviceRatePerSecond: int('GITO_DEVICE_RATE_LIMIT', 10, 1, 1_000_000),
      deviceRateBurst: int('GITO_DEVICE_RATE_BURST', 20, 1, 10_000_000),
      deviceOfflineAfterMs: int('GITO_DEVICE_OFFLINE_AFTER_MS', 600_000, 1_000, 30 * 86_400_000),
      flushMs: int('GITO_INGEST_FLUSH_MS', 20, 0, 60_000),
    },
    gateway: {
      tokenSecret,
      rateLimitPerMinute: int('GITO_API_RATE_LIMIT', 6_000, 1, 10_000_000),
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** `gito node` needs shared Redis and PostgreSQL; say which setting is missing. */
export function requireClusterServices(config: GitoConfig): {
  redisUrl: string;
  databaseUrl: string;
} {
  const problems: string[] = [];
  if (config.cluster.redisUrl === undefined)
    problems.push('GITO_REDIS_URL is required by gito node');
  if (config.cluster.databaseUrl === undefined)
    problems.push('GITO_DATABASE_URL is required by gito node');
  if (problems.length > 0) throw new ConfigError(problems);
  return { redisUrl: config.cluster.redisUrl!, databaseUrl: config.cluster.databaseUrl! };
}
