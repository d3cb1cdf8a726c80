import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  maskSecret,
  parseSecretKey,
  SecretBox,
  SecretDecryptError,
  SecretKeyError,
  secretBoxFromEnv,
} from '../../db/secrets/index.ts';

const key = () => randomBytes(32);

describe('SecretBox', () => {
  it('round-trips text, with a fresh IV each time', () => {
    const box = new SecretBox(key());
    const secret = 'xoxb-1234-ünïcødé-😀';
    const a = box.seal(secret);
    const b = box.seal(secret);
    expect(a).not.toEqual(b);
    expect(a.startsWith(`gito:enc:v1:${box.keyId}:`)).toBe(true);
    expect(a).not.toContain(secret);
    expect(box.open(a)).toBe(secret);
    expect(box.open(box.seal(''))).toBe('');
  });

  it('detects tampering', () => {
    const box = new SecretBox(key());
    const sealed = box.seal('hunter2');
    const body = Buffer.from(sealed.split(':').at(-1)!, 'base64url');
    for (const index of [0, 13, body.length - 1]) {
      const forged = Buffer.from(body);
      forged[index]! ^= 1;
      const text = sealed.replace(/[^:]+$/, forged.toString('base64url'));
      expect(() => box.open(text)).toThrow(SecretDecryptError);
    }
    expect(() => box.open(sealed.slice(0, 30))).toThrow(SecretDecryptError);
    expect(() => box.open('plain text')).toThrow(/not an encrypted secret/);
  });

  it('refuses a wrong key and a wrong context', () => {
    const sealed = new SecretBox(key()).seal('hunter2', 'row:1');
    expect(() => new SecretBox(key()).open(sealed, 'row:1')).toThrow(/not configured/);
    const box = new SecretBox(key());
    expect(() => box.open(box.seal('hunter2', 'row:1'), 'row:2')).toThrow(/another context/);
  });

  it('opens values sealed with a previous key and says which need rotation', () => {
    const [oldKey, newKey] = [key(), key()];
    const sealedOld = new SecretBox(oldKey).seal('token');
    const box = new SecretBox(newKey, [oldKey]);
    expect(box.open(sealedOld)).toBe('token');
    expect(box.needsRotation(sealedOld)).toBe(true);
    const resealed = box.seal(box.open(sealedOld));
    expect(box.needsRotation(resealed)).toBe(false);
  });
});

describe('secret keys from the environment', () => {
  it('parses a base64 key and names the variable on a bad one', () => {
    const raw = key();
    expect(parseSecretKey(raw.toString('base64'))).toEqual(raw);
    expect(parseSecretKey(raw.toString('base64url'))).toEqual(raw);
    expect(() => parseSecretKey('c2hvcnQ=')).toThrow(/GITO_SECRET_KEY: decodes to 5 bytes/);
    expect(() => parseSecretKey('not base64!')).toThrow(SecretKeyError);
  });

  it('uses GITO_SECRET_KEY and previous keys', () => {
    const [current, previous] = [key(), key()];
    const box = secretBoxFromEnv({
      GITO_SECRET_KEY: current.toString('base64'),
      GITO_SECRET_KEYS_PREVIOUS: ` ${previous.toString('base64')} ,`,
    });
    expect(box.open(new SecretBox(previous).seal('x'))).toBe('x');
    expect(box.keyId).toBe(new SecretBox(current).keyId);
  });

  it('warns loudly and uses an ephemeral key when unset outside production', () => {
    const warnings: string[] = [];
    const box = secretBoxFromEnv({}, { warn: (m) => warnings.push(m) });
    expect(box.open(box.seal('x'))).toBe('x');
    expect(warnings.join()).toMatch(/EPHEMERAL/);
    expect(() => secretBoxFromEnv({ NODE_ENV: 'production' })).toThrow(/required in production/);
  });
});

describe('maskSecret', () => {
  it('shows at most the last 4 characters of a long secret', () => {
    expect(maskSecret('sk_live_1234567890abcd')).toBe('••••abcd');
    expect(maskSecret('short-secret')).toBe('••••cret');
    expect(maskSecret('tiny')).toBe('••••');
    expect(maskSecret('elevenchars')).toBe('••••');
    expect(maskSecret('')).toBe('');
    expect(maskSecret(undefined)).toBe('');
    expect(maskSecret(new SecretBox(key()).seal('abcdefghijklmnop'))).toBe('••••');
  });
});
