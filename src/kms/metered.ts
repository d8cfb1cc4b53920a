/**
 * A KMS that reports each call's duration and failures (an operator alerts on KMS errors: while
 * the KMS cannot decrypt, no config with a secret reaches an agent). Wraps any provider, the
 * overrides of tests included, so the figures are the same whichever KMS runs.
 */
import { performance } from "node:perf_hooks";
import {
  type DataKey,
  type EncryptionContext,
  IntegrityError,
  type Kms,
  KmsKeyError,
  KmsUnavailableError,
} from "./kms.js";

/** What the wrapper reports to (the Metrics facade satisfies it). */
export interface KmsObserver {
  kmsCall(operation: "generate_data_key" | "decrypt" | "wrap", seconds: number, errorKind?: string): void;
}

/** The kind label of a failed call: what an operator would do differs for each. */
function errorKind(err: unknown): string {
  if (err instanceof KmsUnavailableError) return "unavailable";
  if (err instanceof KmsKeyError) return "key";
  if (err instanceof IntegrityError) return "integrity";
  return "other";
}

export class MeteredKms implements Kms {
  constructor(
    private readonly inner: Kms,
    private readonly observer: KmsObserver,
  ) {}

  get provider(): Kms["provider"] {
    return this.inner.provider;
  }

  get currentKeyId(): string {
    return this.inner.currentKeyId;
  }

  generateDataKey(context: EncryptionContext): Promise<DataKey> {
    return this.#timed("generate_data_key", () => this.inner.generateDataKey(context));
  }

  decrypt(wrapped: Buffer, context: EncryptionContext, keyId: string): Promise<Buffer> {
    return this.#timed("decrypt", () => this.inner.decrypt(wrapped, context, keyId));
  }

  wrap(plaintext: Buffer, context: EncryptionContext): Promise<{ wrapped: Buffer; keyId: string }> {
    return this.#timed("wrap", () => this.inner.wrap(plaintext, context));
  }

  isCurrentKey(keyId: string): boolean {
    return this.inner.isCurrentKey(keyId);
  }

  async #timed<T>(operation: "generate_data_key" | "decrypt" | "wrap", call: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const result = await call();
      this.observer.kmsCall(operation, (performance.now() - t0) / 1000);
      return result;
    } catch (err) {
      this.observer.kmsCall(operation, (performance.now() - t0) / 1000, errorKind(err));
      throw err;
    }
  }
}
