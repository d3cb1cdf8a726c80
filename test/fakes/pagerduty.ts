import { Agent } from 'node:https';
import { generate } from 'selfsigned';
import { type Behaviour, HttpFake, type RecordedRequest, type Reply } from './http-fake.ts';

/**
 * PagerDuty's Events API v2 at https://127.0.0.1:{port}/v2/enqueue, with a certificate made at
 * start (use `agent()` to trust it). Checks what PagerDuty checks: routing_key, event_action,
 * dedup_key length, and on trigger payload.summary/source/severity. Keeps incidents by
 * dedup_key: a trigger with a known open key is deduplicated (not a new incident), so tests
 * can count incidents; acknowledge/resolve of an unknown key are recorded as strays.
 */

export interface PdEvent {
  readonly routingKey: string;
  readonly action: 'trigger' | 'acknowledge' | 'resolve';
  readonly dedupKey: string;
  readonly body: Record<string, unknown>;
}

export interface PdIncident {
  readonly dedupKey: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  triggers: number;
  /** Incidents opened under this key (a trigger after resolve opens a new one). */
  opened: number;
}

const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);

export class FakePagerDuty extends HttpFake {
  readonly events: PdEvent[] = [];
  readonly incidents = new Map<string, PdIncident>();
  readonly strays: PdEvent[] = [];
  private counter = 0;

  private constructor(
    readonly ca: string,
    tls: { key: string; cert: string },
  ) {
    super(tls);
  }

  /** A fake with a fresh self-signed certificate for 127.0.0.1 and localhost. */
  static async create(): Promise<FakePagerDuty> {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      notAfterDate: new Date(Date.now() + 24 * 3600 * 1000),
      extensions: [
        { name: 'basicConstraints', cA: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    });
    return new FakePagerDuty(pems.cert, { key: pems.private, cert: pems.cert });
  }

  /** host:port for pdjs's `server`. */ override reset(): this {
    this.events.length = 0;
    this.incidents.clear();
    this.strays.length = 0;
    return super.reset();
  }

  get server(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** An agent that trusts this fake's certificate. */
  agent(): Agent {
    return new Agent({ ca: this.ca, keepAlive: true });
  }

  /** Incidents opened in total (dedup_key reuse keeps this at one per alert). */
  get incidentsOpened(): number {
    let n = 0;
    for (const i of this.incidents.values()) n += i.opened;
    return n;
  }

  protected override handle(req: RecordedRequest): Reply {
    if (req.method !== 'POST' || req.url !== '/v2/enqueue') {
      return { status: 404, body: JSON.stringify({ status: 'error', message: 'Not found' }) };
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.body) as Record<string, unknown>;
    } catch {
      return invalid(['Malformed JSON']);
    }
    const errors: string[] = [];
    const routingKey = body.routing_key;
    const action = body.event_action;
    if (typeof routingKey !== 'string' || routingKey.length === 0) {
      errors.push("'routing_key' is missing or blank");
    }
    if (action !== 'trigger' && action !== 'acknowledge' && action !== 'resolve') {
      errors.push("'event_action' is invalid (must be trigger, acknowledge or resolve)");
    }
    let dedupKey = body.dedup_key;
    if (dedupKey !== undefined && (typeof dedupKey !== 'string' || dedupKey.length > 255)) {
      errors.push("'dedup_key' must be a string of at most 255 characters");
    }
    if (action === 'trigger') {
      const payload = body.payload as Record<string, unknown> | undefined;
      if (payload === undefined || typeof payload !== 'object') errors.push("'payload' is missing");
      else {
        if (typeof payload.summary !== 'string' || payload.summary === '') {
          errors.push("'payload.summary' is missing or blank");
        } else if (payload.summary.length > 1024) {
          errors.push("'payload.summary' is longer than 1024 characters");
        }
        if (typeof payload.source !== 'string' || payload.source === '') {
          errors.push("'payload.source' is missing or blank");
        }
        if (typeof payload.severity !== 'string' || !SEVERITIES.has(payload.severity)) {
          errors.push("'payload.severity' is invalid");
        }
      }
    } else if (action !== undefined && typeof dedupKey !== 'string') {
      errors.push("'dedup_key' is required for acknowledge and resolve");
    }
    if (errors.length > 0) return invalid(errors);
    if (typeof dedupKey !== 'string') dedupKey = `pd-${++this.counter}`;
    const key = dedupKey as string;
    const event: PdEvent = {
      routingKey: routingKey as string,
      action: action as PdEvent['action'],
      dedupKey: key,
      body,
    };
    this.events.push(event);
    const incident = this.incidents.get(key);
    if (event.action === 'trigger') {
      if (incident === undefined) {
        this.incidents.set(key, { dedupKey: key, status: 'triggered', triggers: 1, opened: 1 });
      } else {
        incident.triggers++;
        if (incident.status === 'resolved') {
          incident.status = 'triggered';
          incident.opened++;
        }
      }
    } else if (incident === undefined || incident.status === 'resolved') {
      this.strays.push(event);
    } else {
      incident.status = event.action === 'acknowledge' ? 'acknowledged' : 'resolved';
    }
    return {
      status: 202,
      body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: key }),
    };
  }

  protected override errorReply(b: Extract<Behaviour, { mode: 'status' }>): Reply {
    if (b.body !== undefined) {
      return { status: b.status, body: b.body, contentType: b.contentType ?? 'text/html' };
    }
    const message =
      b.status === 429 ? 'Too many requests' : b.status >= 500 ? 'Server error' : 'Invalid';
    return { status: b.status, body: JSON.stringify({ status: 'error', message }) };
  }
}

function invalid(errors: string[]): Reply {
  return {
    status: 400,
    body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors }),
  };
}
