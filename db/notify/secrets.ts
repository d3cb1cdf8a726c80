/**
 * How notification secrets are stored: sealed by a `SecretSealer` before they reach a row
 * (contact_points.secret, notification_deliveries.target_sealed) and opened when a dispatcher
 * sends. In production pass db/secrets' SecretBox (AES-256-GCM; it satisfies this interface),
 * best wrapped in withPlaintextFallback; plaintextSealer is for tests and tools.
 *
 * Sealed text is self-describing by prefix, so rows written by one sealer stay readable after a
 * switch: `plain:` is plaintext; anything else belongs to the configured sealer.
 */
export interface SecretSealer {
  seal(plaintext: string): string | Promise<string>;
  open(sealed: string): string | Promise<string>;
}

const PLAIN = 'plain:';

/** Stores the text as is (prefixed). Not encryption: use a real sealer in production. */
export const plaintextSealer: SecretSealer = {
  seal: (plaintext) => PLAIN + plaintext,
  open(sealed) {
    if (!sealed.startsWith(PLAIN)) {
      throw new Error('sealed secret was not written by the plaintext sealer (no key configured?)');
    }
    return sealed.slice(PLAIN.length);
  },
};

/**
 * A sealer that opens `plain:` values as well as its own, so rows written before encryption was
 * configured keep working (they are re-sealed when next written).
 */
export function withPlaintextFallback(sealer: SecretSealer): SecretSealer {
  return {
    seal: (plaintext) => sealer.seal(plaintext),
    open: (sealed) => (sealed.startsWith(PLAIN) ? sealed.slice(PLAIN.length) : sealer.open(sealed)),
  };
}

export async function sealJson(sealer: SecretSealer, value: unknown): Promise<string> {
  return sealer.seal(JSON.stringify(value));
}

export async function openJson(sealer: SecretSealer, sealed: string): Promise<unknown> {
  return JSON.parse(await sealer.open(sealed));
}
