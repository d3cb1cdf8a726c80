import { type Behaviour, HttpFake, type RecordedRequest, type Reply } from './http-fake.ts';

/**
 * Twilio's Messages API as far as Gito uses it: POST /2010-04-01/Accounts/{sid}/Messages.json
 * with Basic auth (sid:token) and a form body To, Body and From or MessagingServiceSid. Answers
 * 201 with a message resource; 401 (20003) on bad credentials; 400 (21211) for a number in
 * `invalidNumbers` or not E.164; 400 (21602) without Body. Errors use Twilio's JSON shape.
 */

export interface SentSms {
  readonly sid: string;
  readonly to: string;
  readonly from: string | null;
  readonly messagingServiceSid: string | null;
  readonly body: string;
}

export class FakeTwilio extends HttpFake {
  readonly messages: SentSms[] = [];
  readonly invalidNumbers = new Set<string>();
  private counter = 0;

  constructor(
    readonly accountSid = 'AC00000000000000000000000000000001',
    readonly authToken = 'test-auth-token',
  ) {
    super();
  }

  override reset(): this {
    this.messages.length = 0;
    this.invalidNumbers.clear();
    return super.reset();
  }

  protected override handle(req: RecordedRequest): Reply {
    const path = `/2010-04-01/Accounts/${this.accountSid}/Messages.json`;
    if (req.method !== 'POST' || req.url !== path) {
      return error(404, 20404, `The requested resource ${req.url} was not found`);
    }
    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return error(401, 20003, 'Authenticate');
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return error(400, 20001, 'form body expected');
    }
    const form = new URLSearchParams(req.body);
    const to = form.get('To') ?? '';
    const body = form.get('Body');
    const from = form.get('From');
    const service = form.get('MessagingServiceSid');
    if (from === null && service === null) {
      return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required");
    }
    if (body === null || body === '') return error(400, 21602, 'Message body is required');
    if (this.invalidNumbers.has(to) || !/^\+[1-9]\d{6,14}$/.test(to)) {
      return error(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    }
    this.counter++;
    const sid = `SM${this.counter.toString(16).padStart(32, '0')}`;
    this.messages.push({ sid, to, from, messagingServiceSid: service, body });
    return {
      status: 201,
      body: JSON.stringify({
        sid,
        account_sid: this.accountSid,
        to,
        from,
        messaging_service_sid: service,
        body,
        status: 'queued',
        num_segments: '1',
        date_created: new Date().toUTCString(),
        uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}.json`,
      }),
    };
  }

  protected override errorReply(b: Extract<Behaviour, { mode: 'status' }>): Reply {
    if (b.body !== undefined) return { status: b.status, body: b.body, contentType: b.contentType };
    const code = b.status === 429 ? 20429 : b.status >= 500 ? 20500 : 20001;
    return error(b.status, code, b.status === 429 ? 'Too Many Requests' : 'Internal Server Error');
  }
}

function error(status: number, code: number, message: string): Reply {
  return {
    status,
    body: JSON.stringify({
      code,
      message,
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status,
    }),
  };
}
