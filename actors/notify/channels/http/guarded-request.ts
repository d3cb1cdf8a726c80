import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { AddressPolicy } from './address-policy.ts';

/**
 * One HTTP request to a user-given URL, guarded against SSRF:
 * - the host name is resolved by our own lookup, every address is checked against the
 *   AddressPolicy, and the socket connects to the address that was checked (a DNS answer that
 *   changes between check and connect, "DNS rebinding", cannot slip through);
 * - redirects are never followed (the caller sees the 3xx);
 * - a deadline covers the whole exchange and the response body read is bounded.
 */

export class AddressRefusedError extends Error {
  readonly code = 'EADDRREFUSED';
  constructor(readonly reason: string) {
    super(`destination refused: ${reason}`);
    this.name = 'AddressRefusedError';
  }
}

export interface GuardedRequest {
  readonly url: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs: number;
  /** Response bytes kept; the rest is discarded. Default 64 KiB. */
  readonly maxResponseBytes?: number;
}

export interface GuardedResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A guarded HTTP client: keep-alive agents whose sockets all went through the checks. */
export class GuardedHttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly lookup: LookupFunction;

  constructor(readonly policy: AddressPolicy) {
    this.lookup = guardedLookup(policy);
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  }

  request(req: GuardedRequest): Promise<GuardedResponse> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return Promise.reject(new TypeError(`invalid URL '${req.url}'`));
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.reject(new TypeError(`unsupported protocol ${url.protocol}`));
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // The lookup hook is skipped for literal addresses: check them here.
    if (isIP(host) !== 0) {
      const verdict = this.policy.check(host);
      if (!verdict.ok) return Promise.reject(new AddressRefusedError(verdict.reason));
    }
    const signal =
      req.signal === undefined
        ? AbortSignal.timeout(req.timeoutMs)
        : AbortSignal.any([req.signal, AbortSignal.timeout(req.timeoutMs)]);
    const max = req.maxResponseBytes ?? 64 * 1024;
    const secure = url.protocol === 'https:';
    const requestFn = secure ? https.request : http.request;
    return new Promise<GuardedResponse>((resolve, reject) => {
      const request = requestFn(
        url,
        {
          method: req.method ?? 'POST',
          headers: req.headers,
          agent: secure ? this.httpsAgent : this.httpAgent,
          lookup: this.lookup,
          signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < max) chunks.push(chunk.subarray(0, max - size));
            size += chunk.length;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(req.body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** dns.lookup, then the policy on every address: one refused address refuses the host. */
function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err !== null) {
        callback(err, '', 4);
        return;
      }
      const list = addresses as LookupAddress[];
      for (const a of list) {
        const verdict = policy.check(a.address, hostname);
        if (!verdict.ok) {
          callback(new AddressRefusedError(verdict.reason), '', 4);
          return;
        }
      }
      if (list.length === 0) {
        callback(
          Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }),
          '',
          4,
        );
        return;
      }
      if ((options as { all?: boolean }).all === true) {
        // net asks for every address (autoSelectFamily): the callback then takes the list.
        (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, list);
      } else {
        callback(null, list[0]!.address, list[0]!.family);
      }
    });
  };
}
