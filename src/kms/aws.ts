/**
 * AWS KMS through @aws-sdk/client-kms: GenerateDataKey (AES_256) and Decrypt with the encryption
 * context {tenant_id, secret_name}. Region and credentials come from the standard AWS chain;
 * KMS_ENDPOINT points it at an emulator. Service errors are mapped to the three failure classes
 * the rest of the server understands.
 */
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  type KMSClientConfig,
} from "@aws-sdk/client-kms";
import {
  type DataKey,
  type EncryptionContext,
  IntegrityError,
  type Kms,
  KmsKeyError,
  KmsUnavailableError,
} from "./kms.js";

export interface AwsKmsOptions {
  keyId: string;
  region: string | undefined;
  endpoint: string | undefined;
  /** Explicit credentials (tests against an emulator); default: the AWS credential chain. */
  credentials?: KMSClientConfig["credentials"];
}

const UNAVAILABLE = new Set([
  "ThrottlingException",
  "KMSInternalException",
  "DependencyTimeoutException",
  "LimitExceededException",
  "ServiceUnavailableException",
  "RequestTimeout",
  "TimeoutError",
]);
const INTEGRITY = new Set(["InvalidCiphertextException"]);

/** Maps an SDK or network error to our failure classes. */
export function mapKmsError(err: unknown, op: string): Error {
  const name = (err as { name?: string }).name ?? "";
  const code = (err as { code?: string }).code ?? "";
  if (INTEGRITY.has(name)) return new IntegrityError(`KMS ${op}: the data key does not verify (${name})`);
  if (
    UNAVAILABLE.has(name) ||
    ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"].includes(code)
  ) {
    return new KmsUnavailableError(
      `KMS ${op} unavailable: ${name || code}`,
      name === "ThrottlingException" ? 2 : 5,
    );
  }
  if (
    (err as { $metadata?: unknown }).$metadata === undefined &&
    name !== "" &&
    !name.endsWith("Exception")
  ) {
    // Not a service answer at all (socket hang up and the like).
    return new KmsUnavailableError(`KMS ${op} unavailable: ${name}`);
  }
  return new KmsKeyError(`KMS ${op} refused: ${name || String(err)}`);
}

export class AwsKms implements Kms {
  readonly provider = "aws" as const;
  readonly currentKeyId: string;
  readonly #client: KMSClient;
  /** The current key's ARN as KMS reports it (KMS_KEY_ID may be an id, an ARN or an alias). */
  #currentArn: string | undefined;

  constructor(options: AwsKmsOptions) {
    this.currentKeyId = options.keyId;
    this.#client = new KMSClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      maxAttempts: 3,
    });
  }

  isCurrentKey(keyId: string): boolean {
    return (
      keyId === this.currentKeyId || keyId === this.#currentArn || keyId.endsWith(`:key/${this.currentKeyId}`)
    );
  }

  async generateDataKey(context: EncryptionContext): Promise<DataKey> {
    try {
      const out = await this.#client.send(
        new GenerateDataKeyCommand({
          KeyId: this.currentKeyId,
          KeySpec: "AES_256",
          EncryptionContext: { ...context },
        }),
      );
      if (!out.Plaintext || !out.CiphertextBlob) throw new KmsKeyError("KMS GenerateDataKey returned no key");
      this.#currentArn = out.KeyId ?? this.#currentArn;
      return {
        plaintext: Buffer.from(out.Plaintext),
        wrapped: Buffer.from(out.CiphertextBlob),
        keyId: out.KeyId ?? this.currentKeyId,
      };
    } catch (err) {
      if (err instanceof KmsKeyError) throw err;
      throw mapKmsError(err, "GenerateDataKey");
    }
  }

  async decrypt(wrapped: Buffer, context: EncryptionContext, keyId: string): Promise<Buffer> {
    try {
      const out = await this.#client.send(
        new DecryptCommand({ CiphertextBlob: wrapped, EncryptionContext: { ...context }, KeyId: keyId }),
      );
      if (!out.Plaintext) throw new KmsKeyError("KMS Decrypt returned no plaintext");
      return Buffer.from(out.Plaintext);
    } catch (err) {
      if (err instanceof KmsKeyError) throw err;
      throw mapKmsError(err, "Decrypt");
    }
  }

  async wrap(plaintext: Buffer, context: EncryptionContext): Promise<{ wrapped: Buffer; keyId: string }> {
    try {
      const out = await this.#client.send(
        new EncryptCommand({
          KeyId: this.currentKeyId,
          Plaintext: plaintext,
          EncryptionContext: { ...context },
        }),
      );
      if (!out.CiphertextBlob) throw new KmsKeyError("KMS Encrypt returned no ciphertext");
      this.#currentArn = out.KeyId ?? this.#currentArn;
      return { wrapped: Buffer.from(out.CiphertextBlob), keyId: out.KeyId ?? this.currentKeyId };
    } catch (err) {
      if (err instanceof KmsKeyError) throw err;
      throw mapKmsError(err, "Encrypt");
    }
  }

  destroy(): void {
    this.#client.destroy();
  }
}
