import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signatureOf, verifySignature } from '../../actors/notify/channels/http/signature.ts';

describe('webhook signatures', () => {
  const secret = 'whsec_0123456789abcdef';
  const body = '{"event":"firing","alertId":"42"}';
  const now = 1_767_268_800;

  it('is HMAC-SHA256 over "timestamp.body", hex, prefixed v1=', () => {
    const expected = createHmac('sha256', secret).update(`${now}.${body}`).digest('hex');
    expect(signatureOf(secret, now, body)).toBe(`v1=${expected}`);
  });

  it('verifies a good signature and refuses tampering, another secret or an old timestamp', () => {
    const signature = signatureOf(secret, now, body);
    const input = { secret, body, timestamp: String(now), signature, nowSeconds: now + 10 };
    expect(verifySignature(input)).toBe(true);
    expect(verifySignature({ ...input, body: body.replace('42', '43') })).toBe(false);
    expect(verifySignature({ ...input, secret: 'other-secret-0123456' })).toBe(false);
    expect(verifySignature({ ...input, timestamp: String(now + 1) })).toBe(false);
    expect(verifySignature({ ...input, nowSeconds: now + 301 })).toBe(false);
    expect(verifySignature({ ...input, signature: undefined })).toBe(false);
    expect(verifySignature({ ...input, timestamp: 'yesterday' })).toBe(false);
  });

  it('accepts any of several v1 values (secret rotation)', () => {
    const signature = `${signatureOf('old-secret-0123456789', now, body)},${signatureOf(secret, now, body)}`;
    expect(
      verifySignature({ secret, body, timestamp: String(now), signature, nowSeconds: now }),
    ).toBe(true);
  });
});
