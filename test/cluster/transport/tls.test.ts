import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type StatusObject } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HASH_VERSION } from '../../../cluster/placement/index.ts';
import type { TlsOptions } from '../../../cluster/transport/index.ts';
import {
  type Frame,
  NodeTransportClient,
} from '../../../proto/generated/gito/cluster/v1/cluster.ts';
import { PROTOCOL_VERSION } from '../../../proto/protocol-version.ts';
import { closeAll, ping, startNode, waitFor } from './helpers.ts';

/** Certificates made for this run with the openssl CLI, in a temporary directory. */
interface Pki {
  readonly ca: Buffer;
  readonly otherCa: Buffer;
  readonly node: (name: string) => { cert: Buffer; key: Buffer };
}

let dir: string;
let pki: Pki;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(name: string): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
}

function makeLeaf(name: string, ca: string, san: string): void {
  writeFileSync(
    join(dir, `${name}.ext`),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gito-transport-tls-'));
  makeCa('ca');
  makeCa('other-ca');
  makeLeaf('node-a', 'ca', 'IP:127.0.0.1,DNS:localhost');
  makeLeaf('node-b', 'ca', 'IP:127.0.0.1,DNS:localhost');
  makeLeaf('named', 'ca', 'DNS:gito-node.internal'); // no IP in the certificate
  makeLeaf('intruder', 'other-ca', 'IP:127.0.0.1');
  const read = (file: string): Buffer => readFileSync(join(dir, file));
  pki = {
    ca: read('ca.crt'),
    otherCa: read('other-ca.crt'),
    node: (name) => ({ cert: read(`${name}.crt`), key: read(`${name}.key`) }),
  };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(closeAll);

function tls(name: string, mutual: boolean, extra: Partial<TlsOptions> = {}): TlsOptions {
  return { ...pki.node(name), ca: pki.ca, mutual, ...extra };
}

const hello: Frame = {
  hello: {
    nodeId: 'node-z',
    incarnation: 1,
    epoch: 1,
    protocolVersion: PROTOCOL_VERSION,
    placementHashVersion: HASH_VERSION,
  },
  envelopes: [],
};

/** Dials with bare gRPC credentials and reports how the stream ended. */
async function rawAttempt(
  address: string,
  creds: ReturnType<typeof credentials.createSsl>,
): Promise<{ status: StatusObject; frames: number }> {
  const client = new NodeTransportClient(address, creds);
  const call = client.connect();
  let frames = 0;
  call.on('data', () => {
    frames++;
    call.cancel();
  });
  call.on('error', () => {});
  call.write(hello);
  const s = await new Promise<StatusObject>((resolve) => call.on('status', resolve));
  client.close();
  return { status: s, frames };
}

describe('Transport over TLS', () => {
  it('round-trips over TLS (server authenticated)', async () => {
    const a = await startNode('node-a', { tls: tls('node-a', false) });
    const b = await startNode('node-b', { tls: tls('node-b', false) });
    a.transport.send(b.peer, ping(1));
    b.transport.send(a.peer, ping(2));
    await waitFor(() => a.received.length === 1 && b.received.length === 1, 'both ways');
    expect(b.received[0]!.envelope).toEqual(ping(1));
    expect(a.received[0]!.envelope).toEqual(ping(2));
  });

  it('round-trips over mTLS, and refuses clients without a certificate or with a foreign one', async () => {
    const a = await startNode('node-a', { tls: tls('node-a', true) });
    const b = await startNode('node-b', { tls: tls('node-b', true) });
    for (let i = 1; i <= 100; i++) a.transport.send(b.peer, ping(i));
    await waitFor(() => b.received.length === 100, 'mTLS delivery');

    // The control: a bare client with a valid certificate gets b's Hello.
    const ok = await rawAttempt(
      b.address,
      credentials.createSsl(pki.ca, pki.node('node-a').key, pki.node('node-a').cert),
    );
    expect(ok.frames).toBe(1);

    const noCert = await rawAttempt(b.address, credentials.createSsl(pki.ca));
    expect(noCert.frames).toBe(0);
    expect(noCert.status.code).toBe(14); // UNAVAILABLE: the TLS handshake failed

    const foreign = await rawAttempt(
      b.address,
      credentials.createSsl(pki.ca, pki.node('intruder').key, pki.node('intruder').cert),
    );
    expect(foreign.frames).toBe(0);
    expect(foreign.status.code).toBe(14);
    expect(b.received).toHaveLength(100);
  });

  it('does not talk to a server whose certificate does not verify', async () => {
    const a = await startNode('node-a', { tls: tls('node-a', false), reconnectMaxMs: 100 });
    const b = await startNode('node-b', {
      tls: { ...pki.node('intruder'), ca: pki.otherCa, mutual: false },
    });
    a.transport.send(b.peer, ping(1));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(b.received).toEqual([]);
    expect(a.transport.stats().outbound['node-b']!.state).not.toBe('ready');
  });

  it('verifies a configured server name instead of the address host', async () => {
    const b = await startNode('node-b', { tls: tls('named', false) });
    const a = await startNode('node-a', {
      tls: tls('node-a', false, { serverName: 'gito-node.internal' }),
    });
    a.transport.send(b.peer, ping(1));
    await waitFor(() => b.received.length === 1, 'delivery by name');
    // Without the name, 127.0.0.1 is not in b's certificate: no delivery.
    const c = await startNode('node-c', { tls: tls('node-a', false), reconnectMaxMs: 100 });
    c.transport.send(b.peer, ping(2));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(b.received).toHaveLength(1);
  });
});
