import { verifySignature } from '../../actors/notify/channels/http/signature.ts';
import { HttpFake, type RecordedRequest, type Reply } from './http-fake.ts';

/**
 * A customer's webhook endpoint: verifies X-Gito-Signature with the shared secret (401 when it
 * does not match) and keeps what it accepted, counting repeats of an Idempotency-Key as a
 * well-behaved receiver would.
 */
export interface ReceivedWebhook {
  readonly idempotencyKey: string;
  readonly body: Record<string, unknown>;
  readonly at: number;
}

export class FakeWebhookReceiver extends HttpFake {
  readonly received: ReceivedWebhook[] = [];
  readonly duplicates: string[] = [];
  readonly badSignatures: RecordedRequest[] = [];
  readonly path = '/hooks/gito';

  constructor(readonly secret = 'receiver-shared-secret-0123456789') {
    super();
  }

  get url(): string {
    return `${this.origin}${this.path}`;
  }

  override reset(): this {
    this.received.length = 0;
    this.duplicates.length = 0;
    this.badSignatures.length = 0;
    return super.reset();
  }

  protected override handle(req: RecordedRequest): Reply {
    if (req.method !== 'POST' || !req.url.startsWith(this.path)) {
      return { status: 404, body: '{"error":"not found"}' };
    }
    const header = (name: string) => {
      const v = req.headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    };
    const ok = verifySignature({
      secret: this.secret,
      body: req.body,
      timestamp: header('X-Gito-Timestamp'),
      signature: header('X-Gito-Signature'),
    });
    if (!ok) {
      this.badSignatures.push(req);
      return { status: 401, body: '{"error":"bad signature"}' };
    }
    const key = header('Idempotency-Key') ?? '';
    if (this.received.some((r) => r.idempotencyKey === key)) {
      this.duplicates.push(key);
    } else {
      this.received.push({
        idempotencyKey: key,
        body: JSON.parse(req.body) as Record<string, unknown>,
        at: Date.now(),
      });
    }
    return { status: 200, body: '{"ok":true}' };
  }
}
