import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encryption of secret fields at rest (channel tokens, webhook secrets): AES-256-GCM with a key
 * from the environment.
 *
 * Ciphertext format (text, fits any text or JSONB column):
 *
 *   gito:enc:v1:<keyId>:<base64url(iv 12 bytes | ciphertext | tag 16 bytes)>
 *
 * keyId is the first 8 hex digits of sha256 of the key, so a box holding the current key and the
 * previous ones (rotation) knows which key opens a value, and `needsRotation` tells which values
 * to re-encrypt. An optional context string (e.g. 'contact_points.secret:42') is bound as
 * additional authenticated data: a ciphertext copied to another row does not decrypt there.
 */

export const CIPHERTEXT_PREFIX = 'gito:enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export class SecretKeyError extends Error {
  override readonly name = 'SecretKeyError';
}

/** A value that is not a ciphertext of ours, was altered, or was sealed with an unknown key. */
export class SecretDecryptError extends Error {
  override readonly name = 'SecretDecryptError';
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Parses a base64 (or base64url) 32-byte key; `name` is the variable named in the error. */
export function parseSecretKey(text: string, name = 'GITO_SECRET_KEY'): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new SecretKeyError(`${name}: not base64 (generate one with: openssl rand -base64 32)`);
  }
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key.length !== KEY_BYTES) {
    throw new SecretKeyError(
      `${name}: decodes to ${key.length} bytes, 32 are needed (openssl rand -base64 32)`,
    );
  }
  return key;
}

export class SecretBox {
  readonly keyId: string;
  private readonly current: Buffer;
  private readonly keys = new Map<string, Buffer>();

  /**
   * @param current the key new values are sealed with
   * @param previous older keys, still accepted for opening (rotation)
   */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    for (const key of [current, ...previous]) {
      if (key.length !== KEY_BYTES) throw new SecretKeyError('a secret key must be 32 bytes');
      this.keys.set(keyIdOf(key), key);
    }
    this.current = current;
    this.keyId = keyIdOf(current);
  }

  /** Whether `value` looks like a ciphertext of this format (any key). */
  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(CIPHERTEXT_PREFIX);
  }

  seal(plaintext: string, context = ''): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const sealed = Buffer.concat([iv, body, cipher.getAuthTag()]);
    return `${CIPHERTEXT_PREFIX}${this.keyId}:${sealed.toString('base64url')}`;
  }

  open(ciphertext: string, context = ''): string {
    if (!SecretBox.isSealed(ciphertext)) throw new SecretDecryptError('not an encrypted secret');
    const rest = ciphertext.slice(CIPHERTEXT_PREFIX.length);
    const colon = rest.indexOf(':');
    const keyId = rest.slice(0, colon);
    const key = colon > 0 ? this.keys.get(keyId) : undefined;
    if (key === undefined) {
      throw new SecretDecryptError(
        `sealed with key ${keyId || '?'}, which is not configured (GITO_SECRET_KEY or GITO_SECRET_KEYS_PREVIOUS)`,
      );
    }
    const sealed = Buffer.from(rest.slice(colon + 1), 'base64url');
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new SecretDecryptError('ciphertext too short');
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretDecryptError('ciphertext altered, or sealed for another context');
    }
  }

  /** True when `ciphertext` was sealed with an older key: re-seal it with `seal(open(...))`. */
  needsRotation(ciphertext: string): boolean {
    return (
      SecretBox.isSealed(ciphertext) && !ciphertext.startsWith(`${CIPHERTEXT_PREFIX}${this.keyId}:`)
    );
  }
}

export interface SecretBoxFromEnvOptions {
  /** Where the warning about an ephemeral key goes; default console.warn. */
  warn?: (message: string) => void;
}

/**
 * The box from GITO_SECRET_KEY (32 bytes, base64) and GITO_SECRET_KEYS_PREVIOUS (comma-separated,
 * for rotation). Unset in production (NODE_ENV=production) is an error; elsewhere an ephemeral
 * random key is used with a loud warning: secrets stored with it cannot be read after a restart.
 */
export function secretBoxFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: SecretBoxFromEnvOptions = {},
): SecretBox {
  const raw = env.GITO_SECRET_KEY;
  const previous = (env.GITO_SECRET_KEYS_PREVIOUS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '')
    .map((k, i) => parseSecretKey(k, `GITO_SECRET_KEYS_PREVIOUS[${i}]`));
  if (raw !== undefined && raw.trim() !== '') return new SecretBox(parseSecretKey(raw), previous);
  if (env.NODE_ENV === 'production') {
    throw new SecretKeyError(
      'GITO_SECRET_KEY is required in production (32 bytes, base64: openssl rand -base64 32)',
    );
  }
  (options.warn ?? console.warn)(
    'WARNING: GITO_SECRET_KEY is not set: secrets are encrypted with an EPHEMERAL key and will be ' +
      'UNREADABLE after a restart. Set GITO_SECRET_KEY (openssl rand -base64 32) before storing ' +
      'channel tokens or webhook secrets.',
  );
  return new SecretBox(randomBytes(KEY_BYTES), previous);
}

/**
 * A secret for display: '••••' and its last 4 characters when it is long enough (12+) for that to
 * reveal little, else only '••••'. Empty or absent gives ''.
 */
export function maskSecret(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '';
  if (SecretBox.isSealed(value)) return '••••';
  const chars = Array.from(value);
  return chars.length >= 12 ? `••••${chars.slice(-4).join('')}` : '••••';
}
