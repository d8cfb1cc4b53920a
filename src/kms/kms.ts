/**
 * The key-management boundary: a small interface with an AWS implementation (real KMS or an
 * emulator via KMS_ENDPOINT) and a local one (a master key on disk, for development and the
 * embedded default). Everything that encrypts goes through `envelope.ts`, never through this
 * directly.
 */

/** Non-secret context bound to a data key; the same context is needed to unwrap it. */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface DataKey {
  /** The plaintext data key (32 bytes). Used once, then dropped. */
  plaintext: Buffer;
  /** The data key wrapped by the KMS key. */
  wrapped: Buffer;
  /** The KMS key that wrapped it. */
  keyId: string;
}

export interface Kms {
  readonly provider: "aws" | "local";
  /** The key new data keys are wrapped with. */
  readonly currentKeyId: string;
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  /** Unwraps a data key; the context must be the one it was generated with. */
  decrypt(wrapped: Buffer, context: EncryptionContext, keyId: string): Promise<Buffer>;
  /** Wraps an existing plaintext data key under the current key (key rotation). */
  wrap(plaintext: Buffer, context: EncryptionContext): Promise<{ wrapped: Buffer; keyId: string }>;
  /** Whether `keyId` (as stored in an envelope) names the current key. */
  isCurrentKey(keyId: string): boolean;
}

/** The KMS is down or throttling: fail closed, retry later. */
export class KmsUnavailableError extends Error {
  override readonly name = "KmsUnavailableError";
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/**
 * A ciphertext does not verify: tampered, or bound to another tenant or secret. Never answered
 * with plaintext.
 */
export class IntegrityError extends Error {
  override readonly name = "IntegrityError";
}

/** The key is wrong, disabled, unknown or not ours to use. */
export class KmsKeyError extends Error {
  override readonly name = "KmsKeyError";
}
