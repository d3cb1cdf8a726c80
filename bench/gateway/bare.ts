/**
 * The baseline of bench/gateway/run.ts, in its own process of the same kind as the gateway's
 * (Node with the tsx loader, forked the same way): a Fastify instance with no plugins, no
 * logger and no schemas, whose routes return a constant. GET /bare answers the status reads'
 * baseline, POST /bare the ingest's (its JSON body is parsed by Fastify's default parser and
 * ignored).
 */
import Fastify from 'fastify';
import { serveParent } from './lib.ts';

const CONSTANT = { hello: 'world' };

const app = Fastify({ logger: false });
app.get('/bare', async () => CONSTANT);
app.post('/bare', async () => CONSTANT);
const url = await app.listen({ host: '127.0.0.1', port: 0 });

serveParent(
  { url, pid: process.pid },
  async (request) => {
    throw new Error(`unknown request ${request.type}`);
  },
  async () => {
    await app.close();
  },
);
