/**
 * Secret redaction for audit diffs. A field is redacted when its name looks like a secret
 * (secret, token, password, passphrase, key_hash, private key, credential, authorization, cookie,
 * a bare `key`/`apiKey`) or is listed by the caller; a string is redacted when it is an encrypted
 * secret (db/secrets) or contains a value the caller listed (e.g. an API key shown once).
 */

export const REDACTED = '[redacted]';

const SECRET_NAME =
  /secret|token|passw(or)?d|passphrase|key_?hash|private_?key|credential|authorization|cookie|^(api_?)?key$/i;

/** Prefix of an encrypted secret (see db/secrets/secret-box.ts). */
const CIPHERTEXT_PREFIX = 'gito:enc:';

export interface RedactOptions {
  /** Extra field names to redact (exact, case-insensitive). */
  readonly fields?: readonly string[];
  /** Secret values to blank wherever they appear inside a string. */
  readonly values?: readonly string[];
}

export function isSecretFieldName(name: string, extra?: ReadonlySet<string>): boolean {
  return SECRET_NAME.test(name) || (extra?.has(name.toLowerCase()) ?? false);
}

/** A copy of a JSON value with secrets replaced by '[redacted]'. */
export function redactSecrets(value: unknown, options: RedactOptions = {}): unknown {
  const fields = new Set((options.fields ?? []).map((f) => f.toLowerCase()));
  // Short values would blank innocent text ("a", "1"); secrets are never that short.
  const values = (options.values ?? []).filter((v) => typeof v === 'string' && v.length >= 4);
  const walk = (item: unknown): unknown => {
    if (typeof item === 'string') {
      if (item.startsWith(CIPHERTEXT_PREFIX)) return REDACTED;
      let out = item;
      for (const secret of values) out = out.split(secret).join(REDACTED);
      return out;
    }
    if (item === null || typeof item !== 'object') return item;
    if (Array.isArray(item)) return item.map(walk);
    const copy: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(item)) {
      copy[key] =
        isSecretFieldName(key, fields) && member !== null && member !== undefined
          ? REDACTED
          : walk(member);
    }
    return copy;
  };
  return walk(value);
}
