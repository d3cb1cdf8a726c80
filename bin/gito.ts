#!/usr/bin/env -S node --import tsx
import { hostname } from 'node:os';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../app/config.ts';
import { startEmbedded } from '../app/embedded.ts';

const USAGE = `usage: gito <command>

commands:
  start     run the embedded default: one node, the gateway, everything in-process
  config    list the environment variables Gito reads, with defaults
  help      show this text
`;

async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  switch (command) {
    case 'start':
      return start();
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
      process.stderr.write(`gito: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

async function start(): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env, hostname());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gito: ${err.message}\n`);
      return 78; // EX_CONFIG
    }
    throw err;
  }
  const node = await startEmbedded(config);
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal while stopping means "now".
      process.once(signal, () => resolve(130));
      const force = setTimeout(() => {
        process.stderr.write(
          `gito: shutdown took longer than ${config.shutdownTimeoutMs} ms; exiting\n`,
        );
        resolve(1);
      }, config.shutdownTimeoutMs);
      force.unref();
      node.stop().then(
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
