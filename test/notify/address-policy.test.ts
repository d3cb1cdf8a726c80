import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddressPolicy,
  classifyAddress,
  embeddedIPv4,
} from '../../actors/notify/channels/http/address-policy.ts';
import {
  AddressRefusedError,
  GuardedHttpClient,
} from '../../actors/notify/channels/http/guarded-request.ts';

describe('SSRF address classification', () => {
  it.each([
    ['8.8.8.8', undefined],
    ['1.1.1.1', undefined],
    ['2606:4700:4700::1111', undefined],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', undefined],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', undefined],
    ['169.254.169.254', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'metadata'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // IPv6 spellings of IPv4 addresses are judged by the IPv4 address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', undefined],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:c0a8:0101::1', 'private'],
    ['[::1]', 'loopback'],
    ['not-an-ip', 'invalid'],
  ])('%s -> %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('extracts embedded IPv4 addresses', () => {
    expect(embeddedIPv4('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(embeddedIPv4('::ffff:a00:1')).toBe('10.0.0.1');
    expect(embeddedIPv4('2001:4860::1')).toBeUndefined();
  });
});

describe('SSRF allowlist', () => {
  const policy = new AddressPolicy([
    '127.0.0.1/32',
    '10.20.0.0/16',
    'hooks.internal',
    '*.corp.example',
    'fd00::/8',
  ]);

  it.each([
    ['127.0.0.1', undefined, true],
    ['127.0.0.2', undefined, false],
    ['10.20.3.4', undefined, true],
    ['10.21.0.1', undefined, false],
    ['::ffff:10.20.0.5', undefined, true],
    ['fd00::5', undefined, true],
    ['192.168.0.1', 'hooks.internal', true],
    ['192.168.0.1', 'a.b.corp.example', true],
    ['192.168.0.1', 'corp.example.evil', false],
    ['169.254.169.254', 'metadata.google.internal', false],
    ['93.184.216.34', 'example.com', true],
  ])('%s for %s -> %s', (address, host, ok) => {
    expect(policy.check(address, host).ok).toBe(ok);
  });

  it('names the reason and the variable', () => {
    const verdict = new AddressPolicy().check('10.0.0.1', 'internal.example');
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.reason).toContain('internal.example resolves to 10.0.0.1');
      expect(verdict.reason).toContain('private');
      expect(verdict.reason).toContain('GITO_WEBHOOK_ALLOW');
    }
  });

  it('refuses malformed entries', () => {
    expect(() => AddressPolicy.parse('10.0.0.0/33')).toThrow(/prefix/);
    expect(() => AddressPolicy.parse('http://x')).toThrow(/not a CIDR/);
    expect(AddressPolicy.parse(' 127.0.0.1 , ,localhost').hostAllowed('LOCALHOST')).toBe(true);
  });
});

describe('guarded HTTP requests', () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  let port = 0;
  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const get = (client: GuardedHttpClient, url: string) =>
    client.request({ url, method: 'GET', timeoutMs: 2000 });

  it('refuses loopback by address and by name (resolved by the guard) without an allowlist', async () => {
    const client = new GuardedHttpClient(new AddressPolicy());
    await expect(get(client, `http://127.0.0.1:${port}/`)).rejects.toBeInstanceOf(
      AddressRefusedError,
    );
    await expect(get(client, `http://[::ffff:127.0.0.1]:${port}/`)).rejects.toBeInstanceOf(
      AddressRefusedError,
    );
    await expect(get(client, `http://localhost:${port}/`)).rejects.toThrow(/localhost resolves to/);
    client.close();
  });

  it('admits allowlisted addresses and host names', async () => {
    const byCidr = new GuardedHttpClient(new AddressPolicy(['127.0.0.0/8', '::1/128']));
    expect((await get(byCidr, `http://127.0.0.1:${port}/`)).status).toBe(200);
    expect((await get(byCidr, `http://localhost:${port}/`)).status).toBe(200);
    byCidr.close();
    const byName = new GuardedHttpClient(new AddressPolicy(['localhost']));
    expect((await get(byName, `http://localhost:${port}/`)).body).toBe('ok');
    await expect(get(byName, `http://127.0.0.1:${port}/`)).rejects.toBeInstanceOf(
      AddressRefusedError,
    );
    byName.close();
  });

  it('refuses non-http schemes', async () => {
    const client = new GuardedHttpClient(new AddressPolicy(['127.0.0.1']));
    await expect(get(client, 'file:///etc/passwd')).rejects.toThrow(/unsupported protocol/);
    client.close();
  });
});
