// Encryption of secret fields at rest and masking for display.
export {
  CIPHERTEXT_PREFIX,
  keyIdOf,
  maskSecret,
  parseSecretKey,
  SecretBox,
  type SecretBoxFromEnvOptions,
  SecretDecryptError,
  SecretKeyError,
  secretBoxFromEnv,
} from './secret-box.ts';
