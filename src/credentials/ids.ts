/**
 * Human-visible identifiers (DESIGN.md §3): tenant ids, org ids and prefixed record ids.
 * None of these is a secret; possession of an id never authorizes anything.
 */
import { randomBytes } from "node:crypto";

const BASE32_LOWER = "abcdefghijklmnopqrstuvwxyz234567"; // RFC 4648 alphabet, lower-cased
const CROCKFORD_LOWER = "0123456789abcdefghjkmnpqrstvwxyz"; // no i, l, o, u: unambiguous when read aloud
const SLUG_MAX = 20;
const TENANT_ID_PATTERN = /^xs_[a-z0-9]{1,20}_[a-z2-7]{8}$/;
const ORG_ID_PATTERN = /^xs_org_[0-9a-f]{32}$/;

/**
 * New tenant id `xs_<slug>_<8 random base32>`. The slug is the display name lower-cased with only
 * `[a-z0-9]` kept, at most 20 chars, or `tenant` when nothing is left (e.g. an all-emoji name).
 */
export function newTenantId(displayName: string): string {
  // NFKD first so "Café" keeps its "e" and full-width "ＡＢＣ" becomes "abc" instead of vanishing.
  const normalized = displayName.normalize("NFKD").toLowerCase();
  let slug = "";
  for (const ch of normalized) {
    if ((ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9")) {
      slug += ch;
      if (slug.length === SLUG_MAX) break;
    }
  }
  if (slug === "") slug = "tenant";
  // 5 random bytes = 40 bits = exactly 8 base32 chars, so no bias.
  const bytes = randomBytes(5);
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let suffix = "";
  for (let i = 7; i >= 0; i--) suffix += BASE32_LOWER.charAt(Number((bits >> BigInt(i * 5)) & 31n));
  return `xs_${slug}_${suffix}`;
}

/**
 * Whether `s` has the tenant id shape. Disjoint from {@link isOrgId}: an org id's suffix is 32 hex
 * chars, a tenant's is 8 base32 chars, so use these checks rather than `startsWith("xs_org_")`.
 */
export function isTenantId(s: string): boolean {
  return typeof s === "string" && TENANT_ID_PATTERN.test(s);
}

/** New organization id `xs_org_<32 lower-case hex>` (128 random bits). */
export function newOrgId(): string {
  return `xs_org_${randomBytes(16).toString("hex")}`;
}

/** Whether `s` has the org id shape `xs_org_<32 lower-case hex>`. */
export function isOrgId(s: string): boolean {
  return typeof s === "string" && ORG_ID_PATTERN.test(s);
}

/** Prefix of a database record id, one per record type. */
export type RecordIdPrefix =
  | "enr"
  | "key"
  | "agk"
  | "tpl"
  | "rev"
  | "asg"
  | "dlv"
  | "sec"
  | "aud"
  | "req"
  | "rol";

// Record ids deliberately avoid the xse_/xag_/xsa_ token prefixes: an id is logged and shown freely,
// so it must never look like (or be flagged by secret scanners as) a credential, nor be mistaken for one.
const RECORD_PREFIXES: ReadonlySet<string> = new Set<RecordIdPrefix>([
  "enr",
  "key",
  "agk",
  "tpl",
  "rev",
  "asg",
  "dlv",
  "sec",
  "aud",
  "req",
  "rol",
]);
// First char ≤ 7: 10 Crockford chars hold 50 bits but the timestamp is 48 bits (ULID layout).
const RECORD_BODY_PATTERN = /^[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const MAX_TIME = 2n ** 48n - 1n;
const MAX_RANDOM = 2n ** 80n - 1n;

let lastTime = -1n;
let lastRandom = 0n;

function encodeCrockford(value: bigint, length: number): string {
  let out = "";
  for (let i = length - 1; i >= 0; i--) out += CROCKFORD_LOWER.charAt(Number((value >> BigInt(i * 5)) & 31n));
  return out;
}

function random80(): bigint {
  return BigInt(`0x${randomBytes(10).toString("hex")}`);
}

/**
 * New record id `<prefix>_<26 lower-case Crockford base32>`: a 48-bit millisecond timestamp then
 * 80 random bits (ULID layout), so ids sort by creation time. Within one process ids are strictly
 * increasing, even within one millisecond or if the wall clock steps backwards.
 */
export function newRecordId(prefix: RecordIdPrefix): string {
  let time = BigInt(Date.now());
  let random: bigint;
  if (time <= lastTime) {
    // Same ms (or clock moved back): reuse the last time and increment, as the ULID spec's monotonic mode.
    time = lastTime;
    random = lastRandom + 1n;
    if (random > MAX_RANDOM) {
      // 2^80 ids in one ms cannot happen in practice; borrow the next ms rather than throw.
      time += 1n;
      random = random80();
    }
  } else {
    random = random80();
  }
  if (time > MAX_TIME) throw new RangeError("clock beyond the 48-bit ULID range");
  lastTime = time;
  lastRandom = random;
  return `${prefix}_${encodeCrockford(time, 10)}${encodeCrockford(random, 16)}`;
}

/** Whether `s` is a record id, optionally of the given prefix. */
export function isRecordId(s: string, prefix?: RecordIdPrefix): boolean {
  if (typeof s !== "string" || s.length !== 30 || s.charAt(3) !== "_") return false;
  const actual = s.slice(0, 3);
  if (prefix !== undefined ? actual !== prefix : !RECORD_PREFIXES.has(actual)) return false;
  return RECORD_BODY_PATTERN.test(s.slice(4));
}

/**
 * A new agent instance uid: a UUIDv7 (RFC 9562: 48-bit unix milliseconds, version 7, 74 random
 * bits), as canonical text. The spec asks servers that assign one to generate it this way.
 */
export function newInstanceUid(unixMs: number): string {
  const bytes = randomBytes(16);
  const ms = BigInt(Math.max(0, Math.floor(unixMs)));
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
