/**
 * Local KMS: data keys wrapped with AES-256-GCM under a master key kept in the environment
 * (LOCAL_KMS_KEY) or in `DATA_DIR/local-kms.key` (generated on first use, mode 0600). The
 * encryption context is the wrap's additional authenticated data, so a data key only unwraps
 * with the context it was made for, as with AWS KMS. Previous master keys may be listed so that
 * `agent-api secrets rewrap` can move data keys to a new one.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type DataKey, type EncryptionContext, IntegrityError, type Kms, KmsKeyError } from "./kms.js";

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** Context as canonical bytes: keys sorted, so the same context always gives the same AAD. */
export function canonicalContext(context: EncryptionContext): Buffer {
  const sorted = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return Buffer.from(JSON.stringify(sorted), "utf8");
}

function keyIdOf(master: Buffer): string {
  return `local:${createHash("sha256").update(master).digest("hex").slice(0, 16)}`;
}

export class LocalKms implements Kms {
  readonly provider = "local" as const;
  readonly currentKeyId: string;
  readonly #keys = new Map<string, Buffer>();

  /** `current` first; `previous` keys can only unwrap. */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    if (current.length !== 32) throw new KmsKeyError("the local master key must be 32 bytes");
    this.currentKeyId = keyIdOf(current);
    this.#keys.set(this.currentKeyId, current);
    for (const k of previous) this.#keys.set(keyIdOf(k), k);
  }

  isCurrentKey(keyId: string): boolean {
    return keyId === this.currentKeyId;
  }

  async generateDataKey(context: EncryptionContext): Promise<DataKey> {
    const plaintext = randomBytes(32);
    const { wrapped, keyId } = await this.wrap(plaintext, context);
    return { plaintext, wrapped, keyId };
  }

  async wrap(plaintext: Buffer, context: EncryptionContext): Promise<{ wrapped: Buffer; keyId: string }> {
    const master = this.#keys.get(this.currentKeyId) as Buffer;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", master, nonce);
    cipher.setAAD(canonicalContext(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { wrapped: Buffer.concat([nonce, body, cipher.getAuthTag()]), keyId: this.currentKeyId };
  }

  async decrypt(wrapped: Buffer, context: EncryptionContext, keyId: string): Promise<Buffer> {
    const master = this.#keys.get(keyId);
    if (!master)
      throw new KmsKeyError(
        `local KMS key ${keyId} is not configured (set it as a previous key to read old secrets)`,
      );
    if (wrapped.length < NONCE_BYTES + TAG_BYTES + 1)
      throw new IntegrityError("wrapped data key is truncated");
    const nonce = wrapped.subarray(0, NONCE_BYTES);
    const tag = wrapped.subarray(wrapped.length - TAG_BYTES);
    const body = wrapped.subarray(NONCE_BYTES, wrapped.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv("aes-256-gcm", master, nonce);
      decipher.setAAD(canonicalContext(context));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw new IntegrityError(
        "wrapped data key does not verify (tampered, or another tenant's or secret's)",
      );
    }
  }
}

/**
 * The local master key: LOCAL_KMS_KEY when given, else the key file under DATA_DIR, created
 * (0600) on first use. Losing the file loses every secret stored with it.
 */
export async function loadLocalMasterKey(localKey: string | undefined, dataDir: string): Promise<Buffer> {
  if (localKey) return Buffer.from(localKey, "base64");
  const file = join(dataDir, "local-kms.key");
  try {
    const text = (await readFile(file, "utf8")).trim();
    const key = Buffer.from(text, "base64");
    if (key.length !== 32) throw new KmsKeyError(`${file} does not hold a 32-byte base64 key`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    await writeFile(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return loadLocalMasterKey(undefined, dataDir);
    throw err;
  }
  await chmod(file, 0o600);
  return key;
}
