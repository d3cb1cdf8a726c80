import { type Behaviour, HttpFake, type RecordedRequest, type Reply } from './http-fake.ts';

/**
 * A Slack incoming webhook: POST JSON with `text` (or blocks/attachments) to
 * /services/T.../B.../secret; answers 200 "ok", 400 "invalid_payload", 404 "no_service" for
 * another path, 429 "rate_limited" with Retry-After when told to.
 */
export class FakeSlack extends HttpFake {
  readonly posts: { text: string; attachments?: unknown[] }[] = [];
  readonly path = '/services/T0000/B0000/fakesecret';

  get webhookUrl(): string {
    return `${this.origin}${this.path}`;
  }

  override reset(): this {
    this.posts.length = 0;
    return super.reset();
  }

  protected override handle(req: RecordedRequest): Reply {
    if (req.method !== 'POST' || req.url !== this.path) {
      return { status: 404, body: 'no_service', contentType: 'text/plain' };
    }
    let payload: { text?: unknown; attachments?: unknown; blocks?: unknown };
    try {
      payload = JSON.parse(req.body) as typeof payload;
    } catch {
      return { status: 400, body: 'invalid_payload', contentType: 'text/plain' };
    }
    if (typeof payload.text !== 'string' || payload.text === '') {
      return { status: 400, body: 'no_text', contentType: 'text/plain' };
    }
    this.posts.push({
      text: payload.text,
      ...(Array.isArray(payload.attachments) ? { attachments: payload.attachments } : {}),
    });
    return { status: 200, body: 'ok', contentType: 'text/plain' };
  }

  protected override errorReply(b: Extract<Behaviour, { mode: 'status' }>): Reply {
    const text =
      b.body ??
      (b.status === 429 ? 'rate_limited' : b.status >= 500 ? 'internal_error' : 'invalid_payload');
    return { status: b.status, body: text, contentType: 'text/plain' };
  }
}
