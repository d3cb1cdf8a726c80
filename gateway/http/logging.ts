import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';

/** Query parameters that carry credentials (WebSocket clients: `?access_token=`). */
const SECRET_PARAMS = /([?&](?:access_token|token|api_key)=)[^&#]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/**
 * Fastify's request logging, minus what must not reach logs: probes (polled every few seconds,
 * they would drown the useful lines) and credentials passed in query strings.
 */
export class GatewayLogController extends LogController {
  constructor(probePaths: ReadonlySet<string>) {
    super({
      disableRequestLogging: (request) => probePaths.has(request.url.split('?')[0] ?? ''),
    });
  }

  override incomingRequest(request: FastifyRequest, _reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    request.log.info(
      {
        req: {
          method: request.method,
          url: redactUrl(request.url),
          host: request.host,
          remoteAddress: request.ip,
        },
      },
      'incoming request',
    );
  }
}
