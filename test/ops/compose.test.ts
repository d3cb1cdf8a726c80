import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CONFIG_VARIABLES,
  type GitoConfig,
  loadConfig,
  requireClusterServices,
} from '../../app/config.ts';
import { freePort, PROMTOOL_BIN } from './prometheus.ts';

/**
 * docker-compose.yml cannot run here (no Docker engine), so this checks what would make it fail:
 * every GITO_* variable a Gito service sets is one Gito reads, with a value Gito accepts; the
 * addresses in them name services of the file on the ports those listen on; every mounted file
 * exists; Prometheus (promtool check config) scrapes every Gito process on its HTTP port; Grafana
 * gets the provisioning and dashboards where the provisioning says; Mosquitto's configuration
 * loads; the Dockerfile is multi-stage, non-root and runs the compiled program.
 */

const ROOT = new URL('../../', import.meta.url);
const path = (p: string) => new URL(p.replace(/^\.\//, ''), ROOT);
const read = (p: string) => readFileSync(path(p), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  env_file?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  hostname?: string;
  stop_grace_period?: string;
  init?: boolean;
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

// Compose merges `<<: *anchor` keys; so does this parse.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = compose.services;
const GITO_IMAGE = 'gito:local';
const gitoServices = Object.entries(services).filter(([, s]) => s.image === GITO_IMAGE);

/** KEY=VALUE lines of an env file (comments and blank lines skipped), as compose reads them. */
function envFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of read(file).split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    expect(eq, `${file}: ${line}`).toBeGreaterThan(0);
    env[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return env;
}

/** ENV lines of the Dockerfile's last stage (they reach every container of the image). */
function dockerfileEnv(): Record<string, string> {
  const stages = read('Dockerfile').split(/^FROM /m);
  const last = stages[stages.length - 1]!.replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  for (const m of last.matchAll(/^ENV (.+)$/gm)) {
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const [k, v] = pair.split('=');
      env[k!] = v ?? '';
    }
  }
  return env;
}

function serviceEnv(s: Service): Record<string, string> {
  return {
    ...dockerfileEnv(),
    ...Object.assign({}, ...(s.env_file ?? []).map(envFile)),
    ...(s.environment ?? {}),
  };
}

function hostPortOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** The commands bin/gito.ts handles, read from its dispatch switch. */
const gitoCommands = new Set(
  [...read('bin/gito.ts').matchAll(/^\s+case '([a-z-]+)':/gm)].map((m) => m[1]!),
);
/** Commands docker-compose.yml runs that are being added elsewhere (remove once they exist). */
const PENDING_COMMANDS: Record<string, string> = {};

/** A Gito service's configuration as the process would load it (throws as it would at start). */
const configs = {
  cache: new Map<string, GitoConfig>(),
  get(name: string): GitoConfig {
    let config = this.cache.get(name);
    if (config === undefined) {
      config = loadConfig(serviceEnv(services[name]!), name);
      this.cache.set(name, config);
    }
    return config;
  },
};

describe('docker-compose.yml', () => {
  it('has the whole stack', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'gateway',
        'grafana',
        'mosquitto',
        'node-1',
        'node-2',
        'node-3',
        'prometheus',
        'redis',
        'timescaledb',
      ].sort(),
    );
    expect(services.timescaledb!.image).toMatch(/^timescale\/timescaledb:/);
    expect(gitoServices.map(([n]) => n).sort()).toEqual(['gateway', 'node-1', 'node-2', 'node-3']);
  });

  it('gives every service a health check and a restart policy', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.healthcheck?.test.length, name).toBeGreaterThan(0);
      expect(['always', 'unless-stopped', 'on-failure'], name).toContain(s.restart);
    }
  });

  it('starts dependants only once their dependencies are healthy', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(services[dep]!.healthcheck, dep).toBeDefined();
        expect(condition, `${name} -> ${dep}`).toBe('service_healthy');
      }
    }
  });

  it('declares every named volume it uses and uses every one it declares', () => {
    const used = new Set<string>();
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) continue;
        expect(Object.keys(compose.volumes), `${name}: volume ${source}`).toContain(source);
        used.add(source);
      }
    }
    expect([...used].sort()).toEqual(Object.keys(compose.volumes).sort());
  });

  it('mounts only files and folders that exist in the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      const files = [
        ...(s.volumes ?? []).map((v) => v.split(':')[0]!).filter((p) => p.startsWith('./')),
        ...(s.env_file ?? []),
      ];
      for (const f of files) expect(existsSync(path(f)), `${name}: ${f}`).toBe(true);
    }
  });

  describe('Gito services', () => {
    it('set only variables Gito reads, with values it accepts', () => {
      const known = new Set(CONFIG_VARIABLES.map((v) => v.name));
      for (const [name, s] of gitoServices) {
        const set = Object.keys(serviceEnv(s)).filter((k) => k.startsWith('GITO_'));
        expect(
          set.filter((k) => !known.has(k)),
          name,
        ).toEqual([]);
        // loadConfig throws on a bad value; the nodes also need their cluster services.
        requireClusterServices(configs.get(name));
      }
    });

    it('run commands the gito program has', () => {
      for (const [name, s] of gitoServices) {
        const command = s.command?.[0] ?? 'start';
        expect(
          gitoCommands.has(command) || command in PENDING_COMMANDS,
          `${name}: gito ${command}`,
        ).toBe(true);
      }
      for (const [command, why] of Object.entries(PENDING_COMMANDS)) {
        if (gitoCommands.has(command)) {
          throw new Error(`gito ${command} exists now (${why}): remove it from PENDING_COMMANDS`);
        }
        console.warn(
          `ops: docker-compose.yml runs 'gito ${command}', not in bin/gito.ts yet (${why})`,
        );
      }
    });

    it('reach Redis, PostgreSQL and Mosquitto by service name and port', () => {
      const postgres = envFile('deploy/compose/postgres.env');
      const listener = /^listener (\d+)/m.exec(read('deploy/mosquitto/gito.conf'));
      for (const [name] of gitoServices) {
        const c = configs.get(name);
        const redis = hostPortOf(c.cluster.redisUrl!);
        expect(services[redis.host]?.image, name).toMatch(/^redis:/);
        expect(redis.port).toBe(6379);
        const db = new URL(c.cluster.databaseUrl!);
        expect(db.hostname).toBe('timescaledb');
        expect(Number(db.port)).toBe(5432);
        expect([
          decodeURIComponent(db.username),
          decodeURIComponent(db.password),
          db.pathname.slice(1),
        ]).toEqual([postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, postgres.POSTGRES_DB]);
        const mqtt = hostPortOf(c.ingest.mqttUrl!);
        expect(services[mqtt.host]?.image, name).toMatch(/^eclipse-mosquitto:/);
        expect(mqtt.port).toBe(Number(listener?.[1]));
        expect(services.mosquitto!.ports).toContain(`${mqtt.port}:${mqtt.port}`);
      }
    });

    it('listen where the others dial them: gRPC, HTTP, health check', () => {
      const ids = new Set<string>();
      for (const [name, s] of gitoServices) {
        const c = configs.get(name);
        expect(ids.has(c.nodeId), `duplicate GITO_NODE_ID ${c.nodeId}`).toBe(false);
        ids.add(c.nodeId);
        const listenPort = c.cluster.grpcListen.split(':')[1];
        expect(c.cluster.grpcListen.startsWith('0.0.0.0:'), name).toBe(true);
        expect(c.cluster.grpcAdvertise, name).toBe(`${s.hostname ?? name}:${listenPort}`);
        expect(s.hostname ?? name, name).toBe(name);
        expect(c.httpHost, name).toBe('0.0.0.0');
        for (const p of s.ports ?? []) expect(p.split(':').at(-1), name).toBe(String(c.httpPort));
        expect(s.healthcheck!.test.join(' '), name).toContain(`127.0.0.1:${c.httpPort}/readyz`);
        // Room for a planned leave (SIGTERM, handoff) before compose kills the process.
        expect(Number.parseInt(s.stop_grace_period ?? '10s', 10) * 1000).toBeGreaterThan(
          c.shutdownTimeoutMs,
        );
        expect(s.init, name).toBe(true);
      }
    });
  });

  describe('prometheus', () => {
    const config = parse(read('deploy/compose/prometheus.yml')) as {
      global: { scrape_interval: string };
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };

    it('passes promtool check config', () => {
      const out = execFileSync(
        PROMTOOL_BIN,
        ['check', 'config', path('deploy/compose/prometheus.yml').pathname],
        {
          encoding: 'utf8',
        },
      );
      expect(out).toContain('SUCCESS');
    });

    it('scrapes every Gito process on its HTTP port, and nothing else of Gito', () => {
      const targets = config.scrape_configs
        .filter((j) => j.job_name.startsWith('gito'))
        .flatMap((j) => j.static_configs.flatMap((s) => s.targets));
      const expected = gitoServices.map(([name]) => `${name}:${configs.get(name).httpPort}`);
      expect(targets.sort()).toEqual(expected.sort());
    });

    it('is mounted where the prometheus service reads its configuration', () => {
      const p = services.prometheus!;
      const file = p.command!.find((a) => a.startsWith('--config.file='))!.split('=')[1];
      expect(p.volumes).toContain(`./deploy/compose/prometheus.yml:${file}:ro`);
    });

    it('matches the Grafana datasource time interval to the scrape interval', () => {
      const ds = parse(read('grafana/provisioning/datasources/gito.yml')) as {
        datasources: Array<{ type: string; jsonData: { timeInterval?: string } }>;
      };
      const prom = ds.datasources.find((d) => d.type === 'prometheus')!;
      expect(prom.jsonData.timeInterval).toBe(config.global.scrape_interval);
    });
  });

  describe('grafana', () => {
    const g = services.grafana!;
    const env = Object.assign({}, ...(g.env_file ?? []).map(envFile)) as Record<string, string>;
    const mountOf = (source: string) =>
      g.volumes!.find((v) => v.startsWith(`${source}:`))?.split(':')[1];

    it('mounts the provisioning and the dashboards where the provisioning looks', () => {
      expect(mountOf('./grafana/provisioning')).toBe('/etc/grafana/provisioning');
      const providers = parse(read('grafana/provisioning/dashboards/gito.yml')) as {
        providers: Array<{ type: string; options: { path: string } }>;
      };
      expect(providers.providers.map((p) => p.options.path)).toEqual([
        mountOf('./grafana/dashboards'),
      ]);
    });

    it('sets every variable the datasource provisioning uses, pointing at the stack', () => {
      const text = read('grafana/provisioning/datasources/gito.yml');
      const used = [...text.replace(/^\s*#.*$/gm, '').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
      expect(used.length).toBeGreaterThan(0);
      for (const v of used) expect(env[v], v).toBeDefined();
      const postgres = envFile('deploy/compose/postgres.env');
      expect(env.GRAFANA_PG_HOST).toBe('timescaledb:5432');
      expect(env.GRAFANA_PG_DATABASE).toBe(postgres.POSTGRES_DB);
      expect([env.GRAFANA_PG_USER, env.GRAFANA_PG_PASSWORD]).toEqual([
        postgres.GRAFANA_READER_USER,
        postgres.GRAFANA_READER_PASSWORD,
      ]);
      // The timescaledb image preloads the extension: Gito makes telemetry a hypertable.
      expect(env.GRAFANA_PG_TIMESCALEDB).toBe('true');
      const prometheus = hostPortOf(env.GRAFANA_PROMETHEUS_URL!);
      expect(services[prometheus.host]?.image).toMatch(/^prom\/prometheus:/);
      expect(services.prometheus!.ports).toContain(`${prometheus.port}:${prometheus.port}`);
    });
  });

  describe('mosquitto', () => {
    const dirs: string[] = [];
    afterAll(() => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it("includes Gito's broker settings, with the queue limits raised", () => {
      const main = read('deploy/compose/mosquitto.conf');
      const include = /^include_dir (\S+)/m.exec(main)?.[1];
      expect(services.mosquitto!.volumes).toContain(
        `./deploy/mosquitto/gito.conf:${include}/gito.conf:ro`,
      );
      const gito = read('deploy/mosquitto/gito.conf');
      const queued = Number(/^max_queued_messages (\d+)/m.exec(gito)?.[1]);
      expect(queued === 0 || queued >= 100_000).toBe(true);
      expect(/^persistence_location \/mosquitto\/data\/$/m.test(main)).toBe(true);
      expect(services.mosquitto!.volumes).toContain('mosquitto-data:/mosquitto/data');
    });

    it('loads in Mosquitto (paths and port moved to a temp dir)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gito-compose-mosquitto-'));
      dirs.push(dir);
      const port = await freePort();
      const include = join(dir, 'gito.d');
      execFileSync('mkdir', ['-p', include, join(dir, 'data')]);
      writeFileSync(
        join(include, 'gito.conf'),
        read('deploy/mosquitto/gito.conf').replace(
          /^listener \d+.*$/m,
          `listener ${port} 127.0.0.1`,
        ),
      );
      writeFileSync(
        join(dir, 'mosquitto.conf'),
        read('deploy/compose/mosquitto.conf')
          .replace(/^persistence_location .*$/m, `persistence_location ${join(dir, 'data')}/`)
          .replace(/^include_dir .*$/m, `include_dir ${include}`),
      );
      const child = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
      try {
        let up = false;
        for (let i = 0; i < 100 && !up && child.exitCode === null; i++) {
          up = await new Promise<boolean>((resolve) => {
            const socket = net.connect(port, '127.0.0.1', () => {
              socket.destroy();
              resolve(true);
            });
            socket.on('error', () => resolve(false));
          });
          if (!up) await new Promise((r) => setTimeout(r, 50));
        }
        expect(child.exitCode, 'mosquitto exited: its configuration did not load').toBeNull();
        expect(up).toBe(true);
      } finally {
        if (child.exitCode === null) {
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          await exited;
        }
      }
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('is multi-stage and installs production dependencies only in the image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const last = stages.at(-1)!;
    expect(last).not.toMatch(/npm ci(?! --omit=dev)/);
    expect(last).toMatch(/COPY --from=\w+ \/app\/node_modules/);
  });

  it('runs as a non-root user', () => {
    const user = /^USER (\S+)/m.exec(stages.at(-1)!)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('runs the JavaScript tsconfig.build.json compiles', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as {
      compilerOptions: {
        outDir: string;
        rewriteRelativeImportExtensions: boolean;
        noEmit: boolean;
      };
      include: string[];
    };
    expect(build.compilerOptions.noEmit).toBe(false);
    expect(build.compilerOptions.rewriteRelativeImportExtensions).toBe(true);
    expect(build.include).toEqual(expect.arrayContaining(['bin', 'app', 'db']));
    expect(dockerfile).toContain('npx tsc -p tsconfig.build.json');
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)![1]!) as string[];
    expect(entrypoint).toContain(`${build.compilerOptions.outDir}/bin/gito.js`);
    // The migrations are read from next to the compiled db/migrate.js.
    expect(dockerfile).toMatch(/! -name '\*\.ts'/);
  });

  it('keeps the build context small', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', '.git', 'test', 'dist', 'data'])
      expect(ignored).toContain(entry);
  });
});

describe('deploy/compose env files', () => {
  for (const file of ['gito.env', 'postgres.env', 'grafana.env']) {
    it(`${file} explains what it sets`, () => {
      const text = read(`deploy/compose/${file}`);
      expect(text.startsWith('#')).toBe(true);
      expect(Object.keys(envFile(`deploy/compose/${file}`)).length).toBeGreaterThan(0);
    });
  }

  it('docs/operations.md documents every variable Gito reads', () => {
    const doc = read('docs/operations.md');
    expect(CONFIG_VARIABLES.map((v) => v.name).filter((n) => !doc.includes(`\`${n}\``))).toEqual(
      [],
    );
  });
});
