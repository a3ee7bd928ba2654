/** Thrown by the payload codec for an encrypted payload whose key id is not among the configured keys. */
export class UnknownEncryptionKeyError extends Error {
  override readonly name = 'UnknownEncryptionKeyError';

  constructor(
    /** The key id the payload names (ours: letters, digits, `.`, `_`, `-`; anything else is shown cut). */
    readonly keyId: string,
  ) {
    super(`no encryption key "${keyId.slice(0, 64)}" is configured (TURNFLOW_ENCRYPTION_KEYS)`);
  }
}

/** Thrown by the payload codec for an encrypted payload that does not decrypt: altered, truncated or mislabelled. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';

  constructor(
    readonly keyId: string,
    options?: { cause?: unknown },
  ) {
    super(`an encrypted payload does not decrypt with key "${keyId}"`, options);
  }
}
