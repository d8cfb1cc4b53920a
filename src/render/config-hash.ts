/**
 * config_hash (DESIGN.md §6): SHA-256 over a canonical encoding of the config map. Files are
 * sorted by name in UTF-8 byte order; each contributes its name, content type and body, every
 * field as an 8-byte big-endian length followed by its bytes. Length prefixes make the encoding
 * injective: ("ab", "c") and ("a", "bc") cannot collide by concatenation.
 */
import { createHash } from "node:crypto";

/** One entry of an OpAMP AgentConfigMap. */
export interface ConfigFile {
  name: string;
  contentType: string;
  body: Uint8Array | string;
}

function bytes(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64BE(BigInt(length));
  return prefix;
}

/**
 * The SHA-256 of the canonical encoding of `files`. Identical content gives an identical hash
 * whatever the order of `files`. Throws on two files with the same name (a config map has
 * unique keys).
 */
export function configHash(files: readonly ConfigFile[]): Buffer {
  const entries = files.map((file) => ({
    name: bytes(file.name),
    contentType: bytes(file.contentType),
    body: bytes(file.body),
  }));
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  const hash = createHash("sha256");
  entries.forEach((entry, i) => {
    const previous = entries[i - 1];
    if (previous && Buffer.compare(previous.name, entry.name) === 0) {
      throw new TypeError(`config map has two files named "${Buffer.from(entry.name).toString("utf8")}"`);
    }
    for (const field of [entry.name, entry.contentType, entry.body]) {
      hash.update(lengthPrefix(field.byteLength));
      hash.update(field);
    }
  });
  return hash.digest();
}

/** configHash() as lowercase hex. */
export function configHashHex(files: readonly ConfigFile[]): string {
  return configHash(files).toString("hex");
}
