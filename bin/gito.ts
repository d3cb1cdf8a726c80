#!/usr/bin/env -S node --import tsx
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { runAuditCommand } from '../app/audit-cli.ts';
import { startClusterNode } from '../app/cluster-node.ts';
import { formatClusterStatus, readClusterStatus } from '../app/cluster-status.ts';
import { CONFIG_VARIABLES, ConfigError, type GitoConfig, loadConfig } from '../app/config.ts';
import { startEmbedded } from '../app/embedded.ts';
import { startGateway } from '../app/gateway-process.ts';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import { createPool, prepareDatabase } from '../db/index.ts';
import { BootstrapError, bootstrapKey, bootstrapTenant, isKeyRole } from '../gateway/bootstrap.ts';

const USAGE = `usage: gito <command>

commands:
  start            run the embedded default: one node, the gateway, everything in-process
  node             run one cluster node (needs GITO_REDIS_URL and GITO_DATABASE_URL)
  gateway          run the HTTP API alone, as a cluster member that hosts no actors
  cluster status   print the cluster's members, epoch and actors per node
  tenant create <id> [--name <name>] [--auto-provision]
                   create a tenant and print its first admin API key (shown once)
  key create <tenant> [--role admin|operator|viewer|device] [--name <name>]
                   create an API key of a tenant and print it (shown once)
  audit verify --tenant <id> | --all
                   verify audit hash chains, report the first broken link (gito audit help)
  config           list the environment variables Gito reads, with defaults
  help             show this text
`;

const EX_CONFIG = 78;

async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  switch (command) {
    case 'start':
      return withConfig(async (config) => {
        const running = await startEmbedded(config);
        return untilSignal(running.stop, config.shutdownTimeoutMs);
      });
    case 'node':
      return withConfig(async (config) => {
        const running = await startClusterNode(config);
        return untilSignal(running.stop, config.shutdownTimeoutMs);
      });
    case 'gateway':
      return withConfig(async (config) => {
        const running = await startGateway(config);
        return untilSignal(running.stop, config.shutdownTimeoutMs);
      });
    case 'cluster':
      if (argv[1] !== 'status') return usage(`unknown cluster command '${argv[1] ?? ''}'`);
      return withConfig(async (config) => {
        const { redisUrl } = requireRedis(config);
        const status = await readClusterStatus(redisUrl, config.cluster.name);
        process.stdout.write(
          `${argv.includes('--json') ? JSON.stringify(status) : formatClusterStatus(status)}\n`,
        );
        return 0;
      });
    case 'tenant':
    case 'key': {
      if (argv[1] !== 'create' || argv[2] === undefined || argv[2].startsWith('--')) {
        return usage(`usage: gito ${command} create <${command === 'tenant' ? 'id' : 'tenant'}>`);
      }
      const id = argv[2];
      const flag = (name: string) => {
        const i = argv.indexOf(name);
        return i < 0 ? undefined : argv[i + 1];
      };
      const role = flag('--role') ?? 'admin';
      if (!isKeyRole(role)) {
        return usage(`--role ${role}: expected admin, operator, viewer or device`);
      }
      return withConfig((config) =>
        withDatabase(config, async (pool) => {
          try {
            const created =
              command === 'tenant'
                ? await bootstrapTenant(pool, {
                    id,
                    name: flag('--name'),
                    autoProvisionDevices: argv.includes('--auto-provision'),
                  })
                : await bootstrapKey(pool, id, {
                    role,
                    ...(flag('--name') === undefined ? {} : { name: flag('--name') }),
                  });
            process.stdout.write(
              `${command === 'tenant' ? `tenant ${id} created\n` : ''}` +
                `${created.record.role} API key of ${id} (shown once, store it now):\n${created.key}\n`,
            );
            return 0;
          } catch (err) {
            if (!(err instanceof BootstrapError)) throw err;
            process.stderr.write(`gito: ${err.message}\n`);
            return 1;
          }
        }),
      );
    }
    case 'audit':
      return withConfig((config) =>
        withDatabase(config, (pool) => runAuditCommand(argv.slice(1), pool)),
      );
    case 'config':
      for (const v of CONFIG_VARIABLES)
        process.stdout.write(`${v.name}=${v.default}\t# ${v.description}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      return usage(`unknown command '${command}'`);
  }
}

function usage(problem: string): number {
  process.stderr.write(`gito: ${problem}\n\n${USAGE}`);
  return 2;
}

function requireRedis(config: GitoConfig): { redisUrl: string } {
  if (config.cluster.redisUrl === undefined) {
    throw new ConfigError(['GITO_REDIS_URL is required by gito cluster status']);
  }
  return { redisUrl: config.cluster.redisUrl };
}

/**
 * The database of GITO_DATABASE_URL, or else the embedded one under GITO_DATA_DIR (which only
 * one process may open: stop `gito start` first), migrated.
 */
async function withDatabase(
  config: GitoConfig,
  run: (pool: Pool) => Promise<number>,
): Promise<number> {
  const embedded =
    config.cluster.databaseUrl === undefined
      ? await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'pg') })
      : undefined;
  const pool = createPool(config.cluster.databaseUrl ?? embedded!.url, { max: 2 });
  try {
    await prepareDatabase(pool);
    return await run(pool);
  } finally {
    await pool.end();
    await embedded?.stop();
  }
}

/** Loads configuration; a configuration problem exits with EX_CONFIG and a clear message. */
async function withConfig(run: (config: GitoConfig) => Promise<number>): Promise<number> {
  try {
    return await run(loadConfig(process.env, hostname()));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gito: ${err.message}\n`);
      return EX_CONFIG;
    }
    throw err;
  }
}

/** Runs until SIGINT/SIGTERM, then stops gracefully within `timeoutMs`. */
function untilSignal(stop: () => Promise<void>, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal while stopping means "now".
      process.once(signal, () => resolve(130));
      const force = setTimeout(() => {
        process.stderr.write(`gito: shutdown took longer than ${timeoutMs} ms; exiting\n`);
        resolve(1);
      }, timeoutMs);
      force.unref();
      stop().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`gito: shutdown failed: ${String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `gito: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
