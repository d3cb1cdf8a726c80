/**
 * Every dashboard Gito ships, by the file it is written to in grafana/dashboards/. The JSON files
 * are generated from these objects by scripts/gen-dashboards.ts; test/ops checks they match.
 */
import { alertFrequency } from './dashboards/alert-frequency.ts';
import { clusterRuntime } from './dashboards/cluster-runtime.ts';
import { deviceStatus } from './dashboards/device-status.ts';
import { slaTracking } from './dashboards/sla-tracking.ts';
import { telemetryTrends } from './dashboards/telemetry-trends.ts';
import type { Dashboard } from './types.ts';

export const DASHBOARDS: ReadonlyArray<{ readonly file: string; readonly dashboard: Dashboard }> = [
  { file: 'device-status.json', dashboard: deviceStatus },
  { file: 'alert-frequency.json', dashboard: alertFrequency },
  { file: 'telemetry-trends.json', dashboard: telemetryTrends },
  { file: 'sla-tracking.json', dashboard: slaTracking },
  { file: 'cluster-runtime.json', dashboard: clusterRuntime },
];

/**
 * The file content for a dashboard: keys in the order built, two-space indent, formatted as the
 * repository's formatter (biome) formats JSON, so `biome check` and the generator agree.
 */
export function renderDashboard(dashboard: Dashboard): string {
  return `${formatJson(dashboard, '', 0)}\n`;
}

const LINE_WIDTH = 100;

/**
 * biome's JSON layout: non-empty objects one member per line; an array of scalars on one line
 * when that line fits in the width (counting what precedes it and a trailing comma), otherwise
 * one element per line.
 */
function formatJson(value: unknown, indent: string, prefixWidth: number, comma = false): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = `${indent}  `;
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const flat = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (prefixWidth + flat.length + (comma ? 1 : 0) <= LINE_WIDTH) return flat;
    }
    const items = value.map(
      (v, i) => `${inner}${formatJson(v, inner, inner.length, i < value.length - 1)}`,
    );
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    const members = entries.map(([k, v], i) => {
      const key = `${inner}${JSON.stringify(k)}: `;
      return `${key}${formatJson(v, inner, key.length, i < entries.length - 1)}`;
    });
    return `{\n${members.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}
