/**
 * Envelope encryption of secret values. Per value: a fresh data key from the KMS (bound to
 * {tenant_id, secret_name}), AES-256-GCM locally with the same pair as additional authenticated
 * data, stored as a self-describing, versioned envelope. A ciphertext copied to another tenant
 * or secret name fails to verify at both layers; plaintext is never returned for it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { type EncryptionContext, IntegrityError, type Kms } from "./kms.js";
import { canonicalContext } from "./local.js";

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_ALG = "AES-256-GCM";

/** What is stored (jsonb). Binary fields are base64. */
export interface Envelope {
  v: typeof ENVELOPE_VERSION;
  alg: typeof ENVELOPE_ALG;
  kms: "aws" | "local";
  keyId: string;
  wrappedKey: string;
  nonce: string;
  /** Ciphertext followed by the 16-byte GCM tag. */
  ciphertext: string;
}

export interface SecretAddress {
  tenantId: string;
  secretName: string;
}

export function contextOf(address: SecretAddress): EncryptionContext {
  return { tenant_id: address.tenantId, secret_name: address.secretName };
}

function isEnvelope(value: unknown): value is Envelope {
  const e = value as Partial<Envelope> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    e.v === ENVELOPE_VERSION &&
    e.alg === ENVELOPE_ALG &&
    (e.kms === "aws" || e.kms === "local") &&
    typeof e.keyId === "string" &&
    typeof e.wrappedKey === "string" &&
    typeof e.nonce === "string" &&
    typeof e.ciphertext === "string"
  );
}

/**
 * Decrypted data keys, kept briefly so that rendering a fleet does not call the KMS once per
 * agent. Bounded in count and age; keyed by a hash of the wrapped key (not secret).
 */
export class DataKeyCache {
  readonly #entries = new Map<string, { key: Buffer; expires: number }>();

  constructor(
    private readonly maxEntries = 1000,
    private readonly ttlMs = 5 * 60_000,
  ) {}

  static keyOf(wrapped: Buffer, context: EncryptionContext): string {
    return createHash("sha256").update(wrapped).update(canonicalContext(context)).digest("hex");
  }

  get(id: string): Buffer | undefined {
    const e = this.#entries.get(id);
    if (!e) return undefined;
    if (e.expires <= Date.now()) {
      this.#drop(id, e.key);
      return undefined;
    }
    return e.key;
  }

  set(id: string, key: Buffer): void {
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#drop(oldest, this.#entries.get(oldest)?.key);
    }
    this.#entries.set(id, { key: Buffer.from(key), expires: Date.now() + this.ttlMs });
  }

  #drop(id: string, key: Buffer | undefined): void {
    key?.fill(0);
    this.#entries.delete(id);
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    for (const [id, e] of this.#entries) this.#drop(id, e.key);
  }
}

export class EnvelopeCipher {
  constructor(
    private readonly kms: Kms,
    private readonly cache = new DataKeyCache(),
  ) {}

  get currentKeyId(): string {
    return this.kms.currentKeyId;
  }

  /** Encrypts `plaintext` for one secret of one tenant. */
  async seal(address: SecretAddress, plaintext: string): Promise<Envelope> {
    const context = contextOf(address);
    const dataKey = await this.kms.generateDataKey(context);
    try {
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", dataKey.plaintext, nonce);
      cipher.setAAD(canonicalContext(context));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
      return {
        v: ENVELOPE_VERSION,
        alg: ENVELOPE_ALG,
        kms: this.kms.provider,
        keyId: dataKey.keyId,
        wrappedKey: dataKey.wrapped.toString("base64"),
        nonce: nonce.toString("base64"),
        ciphertext: body.toString("base64"),
      };
    } finally {
      // Erase the plaintext data key as soon as it has been used (AWS guidance).
      dataKey.plaintext.fill(0);
    }
  }

  /** Decrypts an envelope stored for `address`; IntegrityError for anything that does not verify. */
  async open(address: SecretAddress, stored: unknown): Promise<string> {
    if (!isEnvelope(stored)) throw new IntegrityError("not a secret envelope this server understands");
    const context = contextOf(address);
    const wrapped = Buffer.from(stored.wrappedKey, "base64");
    const cacheKey = DataKeyCache.keyOf(wrapped, context);
    let dataKey = this.cache.get(cacheKey);
    if (!dataKey) {
      dataKey = await this.kms.decrypt(wrapped, context, stored.keyId);
      if (dataKey.length !== 32) throw new IntegrityError("data key has the wrong length");
      this.cache.set(cacheKey, dataKey);
    }
    const nonce = Buffer.from(stored.nonce, "base64");
    const body = Buffer.from(stored.ciphertext, "base64");
    if (nonce.length !== 12 || body.length < 16) throw new IntegrityError("envelope is truncated");
    try {
      const decipher = createDecipheriv("aes-256-gcm", dataKey, nonce);
      decipher.setAAD(canonicalContext(context));
      decipher.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString(
        "utf8",
      );
    } catch {
      throw new IntegrityError(
        "secret ciphertext does not verify (tampered, or another tenant's or secret's)",
      );
    }
  }

  /**
   * Re-wraps the envelope's data key under the KMS's current key. The ciphertext, and so the
   * secret value and every config hash rendered from it, stays the same.
   */
  async rewrap(address: SecretAddress, stored: unknown): Promise<Envelope | undefined> {
    if (!isEnvelope(stored)) throw new IntegrityError("not a secret envelope this server understands");
    if (stored.kms === this.kms.provider && this.kms.isCurrentKey(stored.keyId)) return undefined;
    const context = contextOf(address);
    const dataKey = await this.kms.decrypt(Buffer.from(stored.wrappedKey, "base64"), context, stored.keyId);
    try {
      const { wrapped, keyId } = await this.kms.wrap(dataKey, context);
      return { ...stored, kms: this.kms.provider, keyId, wrappedKey: wrapped.toString("base64") };
    } finally {
      dataKey.fill(0);
    }
  }
}
