import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

/**
 * An SMTP sink (smtp-server) on 127.0.0.1: keeps every message, with switchable behaviour:
 * ok; 'tempfail' (451 on DATA); 'reject' (550 on RCPT); slow (delay before accepting DATA);
 * reset (drop the connection at DATA). Addresses in `rejectRecipients` always get 550, and
 * with `auth` set the sink requires those credentials (535 otherwise).
 */

export type SmtpBehaviour =
  | { readonly mode: 'ok' }
  | { readonly mode: 'tempfail' }
  | { readonly mode: 'reject' }
  | { readonly mode: 'slow'; readonly delayMs: number }
  | { readonly mode: 'reset' };

export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly raw: string;
  readonly subject: string;
  readonly messageId: string;
  readonly idempotencyKey: string;
}

function header(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const match = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(unfolded);
  return match?.[1]?.trim() ?? '';
}

export class FakeSmtp {
  readonly mails: ReceivedMail[] = [];
  readonly rejectRecipients = new Set<string>();
  /** Attempts at DATA, whatever the outcome. */
  dataAttempts = 0;
  port = 0;
  private behaviour: SmtpBehaviour = { mode: 'ok' };
  private readonly server: SMTPServer;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sockets = new Set<Socket>();

  constructor(readonly auth?: { user: string; pass: string }) {
    this.server = new SMTPServer({
      authOptional: auth === undefined,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth: (a, _session, callback) => {
        if (auth !== undefined && a.username === auth.user && a.password === auth.pass) {
          callback(null, { user: a.username });
        } else {
          callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
        }
      },
      onRcptTo: (address: SMTPServerAddress, _s: SMTPServerSession, callback) => {
        if (this.behaviour.mode === 'reject' || this.rejectRecipients.has(address.address)) {
          callback(
            Object.assign(new Error(`mailbox ${address.address} unavailable`), {
              responseCode: 550,
            }),
          );
        } else {
          callback();
        }
      },
      onData: (stream, session, callback) => {
        this.dataAttempts++;
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const finish = () => {
            const b = this.behaviour;
            if (b.mode === 'reset') {
              for (const socket of this.sockets) socket.destroy();
              return;
            }
            if (b.mode === 'tempfail') {
              callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
              return;
            }
            const raw = Buffer.concat(chunks).toString('utf8');
            this.mails.push({
              from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address),
              raw,
              subject: header(raw, 'Subject'),
              messageId: header(raw, 'Message-ID'),
              idempotencyKey: header(raw, 'X-Gito-Idempotency-Key'),
            });
            callback(null, 'Message queued');
          };
          const b = this.behaviour;
          if (b.mode === 'slow') {
            const t = setTimeout(() => {
              this.timers.delete(t);
              finish();
            }, b.delayMs);
            this.timers.add(t);
          } else {
            finish();
          }
        });
      },
    });
    this.server.on('error', () => {});
    this.server.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  behave(behaviour: SmtpBehaviour): this {
    this.behaviour = behaviour;
    return this;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
