import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/**
 * ETags on successful GET (and HEAD) responses of JSON routes: a hash of the body, so a client
 * revalidating with If-None-Match gets 304 without the payload. Cheap for our page sizes;
 * reads that are live (device status) change often and simply miss.
 *
 * Not @fastify/etag: it tags every method (a POST with If-None-Match could answer 304) and
 * compares only a single If-None-Match value.
 */
export function installEtags(app: FastifyInstance): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    if (
      (request.method !== 'GET' && request.method !== 'HEAD') ||
      reply.statusCode !== 200 ||
      !(typeof payload === 'string' || Buffer.isBuffer(payload))
    ) {
      done(null, payload);
      return;
    }
    const etag = `"${createHash('sha1').update(payload).digest('base64url')}"`;
    reply.header('etag', etag);
    if (matches(request.headers['if-none-match'], etag)) {
      reply.code(304);
      done(null, '');
      return;
    }
    done(null, payload);
  });
}

/** Weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored, '*' matches anything. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  for (const raw of header.split(',')) {
    const tag = raw.trim().replace(/^W\//, '');
    if (tag === '*' || tag === etag) return true;
  }
  return false;
}
