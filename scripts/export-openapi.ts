/**
 * Writes the gateway's OpenAPI document to docs/openapi.json (or the path given):
 *   npx tsx scripts/export-openapi.ts [out.json]
 * It builds the gateway exactly as a node does, without connecting to anything: the document
 * comes from the route schemas alone.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createPool } from '../db/pool.ts';
import { auditResource } from '../gateway/audit/routes.ts';
import { gdprResource } from '../gateway/gdpr/routes.ts';
import { InProcessLiveEvents } from '../gateway/live/events.ts';
import { liveResource } from '../gateway/live/stream.ts';
import { buildGateway } from '../gateway/server.ts';

const out = process.argv[2] ?? fileURLToPath(new URL('../docs/openapi.json', import.meta.url));
// Never connected to: no route runs while the document is generated.
const pool = createPool('postgres://unused@127.0.0.1:1/unused', { max: 1 });
const app = await buildGateway({
  logger: pino({ level: 'silent' }),
  registry: new Registry(),
  nodeId: 'openapi-export',
  readiness: {},
  api: {
    pool,
    actors: { ask: () => Promise.reject(new Error('no actors while exporting the document')) },
    tokenSecret: 'export-only-secret-never-used-to-sign-anything',
    // The resources a node adds beyond the built-in ones (app/api-wiring.ts).
    resources: [auditResource, gdprResource(), liveResource({ events: new InProcessLiveEvents() })],
  },
});
await app.ready();
const document = app.swagger();
writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`);
await app.close();
await pool.end();
const paths = Object.keys(document.paths ?? {}).length;
process.stdout.write(`wrote ${out} (${paths} paths)\n`);
