import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GRID_COLUMNS } from '../../grafana/src/build.ts';
import { DASHBOARDS, renderDashboard } from '../../grafana/src/index.ts';
import type { Dashboard, GridPos, Panel } from '../../grafana/src/types.ts';

/**
 * The dashboard JSON Grafana loads: generated from grafana/src (byte for byte), panels with unique
 * ids on a valid, non-overlapping grid, datasources that the provisioning defines, variables that
 * exist, and every dashboard and panel described in docs/grafana.md.
 */

const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');

interface ProvisionedDatasource {
  name: string;
  uid: string;
  type: string;
}
const provisioned: ProvisionedDatasource[] = readdirSync(
  new URL('grafana/provisioning/datasources/', ROOT),
)
  .filter((f) => /\.ya?ml$/.test(f))
  .flatMap(
    (f) =>
      (
        parse(read(`grafana/provisioning/datasources/${f}`)) as {
          datasources: ProvisionedDatasource[];
        }
      ).datasources,
  );

/** Variables Grafana defines itself. */
const GLOBALS = new Set([
  '__interval',
  '__interval_ms',
  '__rate_interval',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
]);

function dataPanels(d: Dashboard) {
  return d.panels.filter((p): p is Exclude<Panel, { type: 'row' }> => p.type !== 'row');
}

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

describe('provisioned dashboards', () => {
  it('are what grafana/src generates (run npx tsx scripts/gen-dashboards.ts)', () => {
    const files = readdirSync(new URL('grafana/dashboards/', ROOT)).filter((f) =>
      f.endsWith('.json'),
    );
    expect(files.sort()).toEqual(DASHBOARDS.map((d) => d.file).sort());
    for (const { file, dashboard } of DASHBOARDS) {
      expect(read(`grafana/dashboards/${file}`), file).toBe(renderDashboard(dashboard));
    }
  });

  it('have unique uids and titles', () => {
    const uids = DASHBOARDS.map((d) => d.dashboard.uid);
    const titles = DASHBOARDS.map((d) => d.dashboard.title);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(titles).size).toBe(titles.length);
  });

  it('provision one PostgreSQL and one Prometheus datasource with fixed uids', () => {
    expect(provisioned.map((d) => [d.uid, d.type]).sort()).toEqual([
      ['gito-postgres', 'grafana-postgresql-datasource'],
      ['gito-prometheus', 'prometheus'],
    ]);
  });

  for (const { file } of DASHBOARDS) {
    describe(file, () => {
      const text = read(`grafana/dashboards/${file}`);
      // Check the JSON Grafana reads, not only the object it came from.
      const json = JSON.parse(text) as Dashboard;

      it('has unique panel ids', () => {
        const ids = json.panels.map((p) => p.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
      });

      it('places every panel inside the 24-column grid without overlaps', () => {
        for (const p of json.panels) {
          const g = p.gridPos;
          expect([g.x, g.y, g.w, g.h].every(Number.isInteger), p.title).toBe(true);
          expect(g.x >= 0 && g.y >= 0 && g.w >= 1 && g.h >= 1, p.title).toBe(true);
          expect(g.x + g.w, p.title).toBeLessThanOrEqual(GRID_COLUMNS);
        }
        for (const [i, a] of json.panels.entries()) {
          for (const b of json.panels.slice(i + 1)) {
            expect(overlaps(a.gridPos, b.gridPos), `'${a.title}' overlaps '${b.title}'`).toBe(
              false,
            );
          }
        }
      });

      it('uses only provisioned datasources, of the right type', () => {
        const refs = [
          ...dataPanels(json).flatMap((p) => [p.datasource, ...p.targets.map((t) => t.datasource)]),
          ...json.templating.list.flatMap((v) => (v.type === 'query' ? [v.datasource] : [])),
        ];
        expect(refs.length).toBeGreaterThan(0);
        for (const ref of refs) {
          const ds = provisioned.find((d) => d.uid === ref.uid);
          expect(ds, `datasource uid ${ref.uid}`).toBeDefined();
          expect(ref.type).toBe(ds!.type);
        }
        for (const p of dataPanels(json)) {
          expect(p.targets.length, p.title).toBeGreaterThan(0);
          for (const t of p.targets) expect(t.datasource.uid, p.title).toBe(p.datasource.uid);
        }
      });

      it('refers only to variables it defines', () => {
        const defined = new Set(json.templating.list.map((v) => v.name));
        const texts = [
          ...dataPanels(json).flatMap((p) => [
            p.title,
            ...p.targets.map((t) => ('rawSql' in t ? t.rawSql : t.expr)),
          ]),
          ...json.templating.list.map((v) => v.query),
        ];
        for (const text of texts) {
          for (const m of text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)(?!\w*\()/g)) {
            const name = m[1] ?? m[2]!;
            expect(defined.has(name) || GLOBALS.has(name), `$${name} in ${text}`).toBe(true);
          }
        }
      });

      it('has tenant and group variables where it queries PostgreSQL', () => {
        const sql = dataPanels(json).some((p) => p.datasource.uid === 'gito-postgres');
        const names = json.templating.list.map((v) => v.name);
        if (sql) expect(names.slice(0, 2)).toEqual(['tenant', 'group']);
      });

      it('is described, with each of its panels, in docs/grafana.md', () => {
        // Line breaks of the Markdown source do not matter.
        const doc = read('docs/grafana.md').replace(/\s+/g, ' ');
        expect(doc).toContain(json.title);
        for (const p of dataPanels(json)) expect(doc, `panel '${p.title}'`).toContain(p.title);
      });
    });
  }
});
