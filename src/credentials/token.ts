/**
 * Credential tokens: `<prefix><secret><checksum>` (DESIGN.md §3, reference B4).
 *
 * - prefix: `xse_` (enrollment), `xag_` (agent key), `xsa_` (admin API key), 4 chars
 * - secret: 32 base62 chars from `crypto.randomBytes` (≈ 190.5 bits)
 * - checksum: CRC32 of prefix + secret, base62, fixed 6 chars, zero-padded
 *
 * Total length 42. Only the SHA-256 of the whole plaintext and the display prefix are stored.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";
import { UnauthenticatedError } from "../errors.js";

/** What a credential authorizes; decides its prefix. */
export type TokenKind = "enrollment" | "agent" | "admin";

/** Prefix for each token kind; visible to humans and to secret scanners. */
export const TOKEN_PREFIXES: Readonly<Record<TokenKind, "xse_" | "xag_" | "xsa_">> = Object.freeze({
  enrollment: "xse_",
  agent: "xag_",
  admin: "xsa_",
});

/** A freshly issued token. `plaintext` must be shown to the caller once and then dropped. */
export interface IssuedToken {
  kind: TokenKind;
  /** The full credential. Never log it, never store it. */
  plaintext: string;
  /** SHA-256 of `plaintext`, the only form persisted (unique index). */
  hash: Buffer;
  /** Non-secret display form, see {@link displayPrefixOf}. */
  displayPrefix: string;
}

/** A presented token that passed all offline checks (prefix, length, charset, checksum). */
export interface ParsedToken {
  kind: TokenKind;
  /** The full credential. Never log it. */
  plaintext: string;
  /** SHA-256 of `plaintext`, the database lookup key. */
  hash: Buffer;
  /** Non-secret display form, see {@link displayPrefixOf}. */
  displayPrefix: string;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX_LENGTH = 4;
const SECRET_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const TOKEN_LENGTH = PREFIX_LENGTH + SECRET_LENGTH + CHECKSUM_LENGTH;
const DISPLAY_SECRET_CHARS = 6;
const BODY_PATTERN = /^[0-9A-Za-z]+$/;
// 248 = 4 × 62: bytes ≥ 248 are rejected so every base62 char is drawn with probability exactly 1/62.
const REJECTION_LIMIT = 256 - (256 % BASE62.length);

const KIND_BY_PREFIX: ReadonlyMap<string, TokenKind> = new Map(
  (Object.entries(TOKEN_PREFIXES) as [TokenKind, string][]).map(([kind, prefix]) => [prefix, kind]),
);

function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    // Ask for a few extra bytes so one call almost always suffices despite rejections (~3 % rate).
    const bytes = randomBytes(length - out.length + 8);
    for (const byte of bytes) {
      if (byte >= REJECTION_LIMIT) continue;
      out += BASE62.charAt(byte % BASE62.length);
      if (out.length === length) break;
    }
  }
  return out;
}

function checksumOf(prefixAndSecret: string): string {
  // 62^6 ≈ 5.7e10 > 2^32, so 6 chars always hold a CRC32 and the encoding is fixed-width.
  let value = crc32(prefixAndSecret);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62.charAt(value % 62) + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/**
 * Issue a new token of the given kind.
 * The checksum covers the prefix too, so flipping `xse_` to `xsa_` invalidates the token.
 */
export function issueToken(kind: TokenKind): IssuedToken {
  const prefix = TOKEN_PREFIXES[kind];
  const head = prefix + randomBase62(SECRET_LENGTH);
  const plaintext = head + checksumOf(head);
  return { kind, plaintext, hash: hashToken(plaintext), displayPrefix: displayPrefixOf(plaintext) };
}

/**
 * Validate a presented token offline: known prefix, exact length, base62 charset and CRC32 checksum.
 * Pure and cheap, so garbage and typos are rejected before any database query.
 * @param expected kinds acceptable at this endpoint; a valid token of another kind is rejected.
 * @returns the parsed token, or `null` when anything is wrong (no reason is given, on purpose).
 */
export function parseToken(raw: string, expected?: TokenKind | readonly TokenKind[]): ParsedToken | null {
  if (typeof raw !== "string" || raw.length !== TOKEN_LENGTH) return null;
  const kind = KIND_BY_PREFIX.get(raw.slice(0, PREFIX_LENGTH));
  if (kind === undefined) return null;
  if (expected !== undefined) {
    const allowed: readonly TokenKind[] = typeof expected === "string" ? [expected] : expected;
    if (!allowed.includes(kind)) return null;
  }
  const body = raw.slice(PREFIX_LENGTH);
  if (!BODY_PATTERN.test(body)) return null;
  const head = raw.slice(0, PREFIX_LENGTH + SECRET_LENGTH);
  // Plain comparison is fine: the checksum is derivable from the token itself and guards no secret.
  if (raw.slice(PREFIX_LENGTH + SECRET_LENGTH) !== checksumOf(head)) return null;
  return { kind, plaintext: raw, hash: hashToken(raw), displayPrefix: displayPrefixOf(raw) };
}

/**
 * SHA-256 of a token (32 bytes), the stored and looked-up form.
 * A fast hash is enough because tokens carry ≥ 128 random bits (see README.md).
 */
export function hashToken(plaintext: string): Buffer {
  return createHash("sha256").update(plaintext, "utf8").digest();
}

/**
 * Non-secret display form of a token: the 4-char prefix plus the first 6 secret chars
 * (e.g. `xse_a1B2c3`). Safe to store, log and show: the remaining 26 base62 secret chars
 * still carry ≈ 154 bits, above the 128-bit floor. Does not validate the token.
 */
export function displayPrefixOf(plaintext: string): string {
  return plaintext.slice(0, PREFIX_LENGTH + DISPLAY_SECRET_CHARS);
}

/**
 * Extract the credential from an `Authorization` header of the form `Bearer <token>`.
 * The scheme is case-insensitive; surrounding whitespace is trimmed. Exactly one space must
 * separate scheme and token, and the token must be an RFC 6750 b64token (no inner whitespace).
 * @returns the token, or `null` for a missing/empty header, another scheme or a malformed value.
 */
export function parseBearer(header: string | undefined | null): string | null {
  if (typeof header !== "string") return null;
  // Strict on purpose: our tokens are machine-generated, so anything unusual is not ours.
  const match = /^bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
  return match?.[1] ?? null;
}

/**
 * The credential of a request's `Authorization` header, as both REST and OpAMP read it: null
 * when there is no header, the token when it is a well-formed bearer header.
 * @throws UnauthenticatedError("malformed") when a header is present but not a bearer token.
 */
export function bearerCredential(header: string | undefined): string | null {
  if (header === undefined) return null;
  const bearer = parseBearer(header);
  if (bearer === null) throw new UnauthenticatedError("malformed");
  return bearer;
}

/**
 * Constant-time byte comparison (`crypto.timingSafeEqual`). Returns `false` on length mismatch;
 * only the length can leak, which is public for hashes.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return timingSafeEqual(a, b);
}

/**
 * Short non-secret fingerprint of a stored 32-byte token hash, for display: `sha256:` + 16 hex chars.
 * 64 bits of a hash of a ≥ 128-bit secret reveal nothing usable about the token.
 * @throws TypeError when `hash` is not 32 bytes (it must be a SHA-256 digest).
 */
export function keyFingerprint(hash: Uint8Array): string {
  if (hash.byteLength !== 32) throw new TypeError("keyFingerprint expects a 32-byte SHA-256 digest");
  return `sha256:${Buffer.from(hash.buffer, hash.byteOffset, 8).toString("hex")}`;
}
