import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { fc, test } from "@fast-check/vitest";
import { afterEach, describe, expect, vi } from "vitest";
import type { RecordIdPrefix, TokenKind } from "../../src/credentials/index.js";
import {
  constantTimeEqual,
  displayPrefixOf,
  hashToken,
  isOrgId,
  isRecordId,
  issueToken,
  isTenantId,
  keyFingerprint,
  newOrgId,
  newRecordId,
  newTenantId,
  parseBearer,
  parseToken,
  TOKEN_PREFIXES,
} from "../../src/credentials/index.js";

const KINDS: readonly TokenKind[] = ["enrollment", "agent", "admin"];
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// Every char that can appear in a token: base62 plus the prefix separator.
const TOKEN_ALPHABET = `${BASE62}_`;
const RECORD_PREFIXES: readonly RecordIdPrefix[] = [
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
];
const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/** Independent oracle for the checksum: CRC32 of prefix+secret, base62, 6 chars, zero-padded. */
function oracleChecksum(head: string): string {
  let value = crc32(head);
  let out = "";
  for (let i = 0; i < 6; i++) {
    out = BASE62.charAt(value % 62) + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** Build a token with a correct checksum around any prefix/secret, to isolate the other checks. */
function withValidChecksum(prefix: string, secret: string): string {
  return prefix + secret + oracleChecksum(prefix + secret);
}

function decodeCrockford(s: string): number {
  let value = 0;
  for (const ch of s) value = value * 32 + CROCKFORD.indexOf(ch);
  return value;
}

const kindArb = fc.constantFrom(...KINDS);
const secretArb = fc.string({ unit: fc.constantFrom(...BASE62), minLength: 32, maxLength: 32 });

describe("issueToken / parseToken", () => {
  test("TOKEN_PREFIXES maps enrollment→xse_, agent→xag_, admin→xsa_", () => {
    expect(TOKEN_PREFIXES).toEqual({ enrollment: "xse_", agent: "xag_", admin: "xsa_" });
    expect(Object.isFrozen(TOKEN_PREFIXES)).toBe(true);
  });

  test.each(KINDS)("an issued %s token has prefix, 32 base62 secret chars and a 6-char CRC32", (kind) => {
    const token = issueToken(kind);
    expect(token.kind).toBe(kind);
    expect(token.plaintext).toMatch(new RegExp(`^${TOKEN_PREFIXES[kind]}[0-9A-Za-z]{38}$`));
    const head = token.plaintext.slice(0, 36);
    expect(token.plaintext.slice(36)).toBe(oracleChecksum(head));
    expect(token.hash.equals(createHash("sha256").update(token.plaintext).digest())).toBe(true);
    expect(token.displayPrefix).toBe(token.plaintext.slice(0, 10));
  });

  test.prop([kindArb])("an issued token of every kind parses back with the same kind and hash", (kind) => {
    const issued = issueToken(kind);
    const parsed = parseToken(issued.plaintext);
    expect(parsed).not.toBeNull();
    expect(parsed?.kind).toBe(kind);
    expect(parsed?.plaintext).toBe(issued.plaintext);
    expect(parsed?.hash.equals(issued.hash)).toBe(true);
    expect(parsed?.displayPrefix).toBe(issued.displayPrefix);
    expect(parseToken(issued.plaintext, kind)?.kind).toBe(kind);
  });

  test.prop([kindArb, secretArb])("accepts any secret whose checksum is correct", (kind, secret) => {
    const raw = withValidChecksum(TOKEN_PREFIXES[kind], secret);
    expect(parseToken(raw)?.kind).toBe(kind);
  });

  test.prop([kindArb, fc.nat(), fc.integer({ min: 1, max: TOKEN_ALPHABET.length - 1 })])(
    "rejects a token with any single character substituted",
    (kind, position, shift) => {
      const { plaintext } = issueToken(kind);
      const i = position % plaintext.length;
      const original = TOKEN_ALPHABET.indexOf(plaintext.charAt(i));
      const replacement = TOKEN_ALPHABET.charAt((original + shift) % TOKEN_ALPHABET.length);
      expect(replacement).not.toBe(plaintext.charAt(i));
      const mutated = plaintext.slice(0, i) + replacement + plaintext.slice(i + 1);
      expect(parseToken(mutated)).toBeNull();
    },
  );

  test.prop([kindArb, fc.nat()])("rejects a token with any single character deleted", (kind, position) => {
    const { plaintext } = issueToken(kind);
    const i = position % plaintext.length;
    expect(parseToken(plaintext.slice(0, i) + plaintext.slice(i + 1))).toBeNull();
  });

  test.prop([kindArb, fc.nat(), fc.constantFrom(...TOKEN_ALPHABET)])(
    "rejects a token with any single character inserted",
    (kind, position, ch) => {
      const { plaintext } = issueToken(kind);
      const i = position % (plaintext.length + 1);
      expect(parseToken(plaintext.slice(0, i) + ch + plaintext.slice(i))).toBeNull();
    },
  );

  test.prop([kindArb, fc.nat()])("rejects a token with two adjacent characters swapped", (kind, position) => {
    const { plaintext } = issueToken(kind);
    const i = position % (plaintext.length - 1);
    const a = plaintext.charAt(i);
    const b = plaintext.charAt(i + 1);
    fc.pre(a !== b); // swapping equal chars is not a change
    const mutated = plaintext.slice(0, i) + b + a + plaintext.slice(i + 2);
    expect(parseToken(mutated)).toBeNull();
  });

  test("rejects an xse_ token whose prefix was edited to xsa_ (the checksum covers the prefix)", () => {
    const { plaintext } = issueToken("enrollment");
    expect(parseToken(`xsa_${plaintext.slice(4)}`)).toBeNull();
    expect(parseToken(`xag_${plaintext.slice(4)}`)).toBeNull();
  });

  test.prop([fc.string({ maxLength: 100 })])("rejects arbitrary strings", (s) => {
    expect(parseToken(s)).toBeNull();
  });

  test.prop([fc.string({ unit: "binary", maxLength: 60 })])("rejects arbitrary unicode strings", (s) => {
    expect(parseToken(s)).toBeNull();
  });

  test.prop([kindArb, fc.string({ unit: fc.constantFrom(...BASE62), minLength: 38, maxLength: 38 })])(
    "rejects well-shaped random tokens whose checksum does not match",
    (kind, body) => {
      const raw = TOKEN_PREFIXES[kind] + body;
      fc.pre(body.slice(32) !== oracleChecksum(raw.slice(0, 36)));
      expect(parseToken(raw)).toBeNull();
    },
  );

  test("rejects a valid token presented where another kind is expected", () => {
    const agent = issueToken("agent").plaintext;
    expect(parseToken(agent, "enrollment")).toBeNull();
    expect(parseToken(agent, "admin")).toBeNull();
    expect(parseToken(agent, ["enrollment", "admin"])).toBeNull();
    expect(parseToken(agent, [])).toBeNull();
    expect(parseToken(agent, "agent")?.kind).toBe("agent");
    expect(parseToken(agent, ["admin", "agent"])?.kind).toBe("agent");
  });

  test("rejects tokens of the wrong length even when the checksum is right", () => {
    expect(parseToken(withValidChecksum("xag_", "a".repeat(31)))).toBeNull();
    expect(parseToken(withValidChecksum("xag_", "a".repeat(33)))).toBeNull();
    expect(parseToken(withValidChecksum("xag_", "a".repeat(32)))?.kind).toBe("agent");
    expect(parseToken("")).toBeNull();
    expect(parseToken(`${issueToken("agent").plaintext}\n`)).toBeNull();
    expect(parseToken(` ${issueToken("agent").plaintext}`)).toBeNull();
  });

  test.each(["-", "_", " ", "+", "/", "é", "Ａ", "\u0000"])(
    "rejects a secret containing %j even when the checksum is right",
    (bad) => {
      const raw = withValidChecksum("xse_", `${"b".repeat(16)}${bad}${"c".repeat(15)}`);
      expect(raw).toHaveLength(42);
      expect(parseToken(raw)).toBeNull();
    },
  );

  test.each(["xsx_", "XSE_", "xse-", "ghp_", "xs__"])(
    "rejects unknown prefix %s even when the checksum is right",
    (prefix) => {
      expect(parseToken(withValidChecksum(prefix, "d".repeat(32)))).toBeNull();
    },
  );

  test("rejects non-string input at runtime instead of throwing", () => {
    expect(parseToken(undefined as unknown as string)).toBeNull();
    expect(parseToken(42 as unknown as string)).toBeNull();
  });
});

describe("hashToken", () => {
  test("is SHA-256 (FIPS 180-2 test vectors)", () => {
    expect(hashToken("abc").toString("hex")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(hashToken("").toString("hex")).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });

  test.prop([fc.string()])("always returns 32 bytes matching node's sha256", (s) => {
    const hash = hashToken(s);
    expect(hash).toHaveLength(32);
    expect(hash.equals(createHash("sha256").update(s, "utf8").digest())).toBe(true);
  });
});

describe("displayPrefixOf", () => {
  test.prop([kindArb])("reveals the 4-char prefix and exactly 6 secret chars", (kind) => {
    const { plaintext, displayPrefix } = issueToken(kind);
    expect(displayPrefixOf(plaintext)).toBe(displayPrefix);
    expect(displayPrefix).toHaveLength(10);
    expect(displayPrefix).toBe(TOKEN_PREFIXES[kind] + plaintext.slice(4, 10));
    expect(plaintext.startsWith(displayPrefix)).toBe(true);
    // 26 secret chars + the checksum stay hidden: changing them leaves the display form unchanged.
    const other = plaintext.slice(0, 10) + "0".repeat(32);
    expect(displayPrefixOf(other)).toBe(displayPrefix);
  });

  test.prop([fc.string({ maxLength: 200 })])("never returns more than 10 chars of any input", (s) => {
    const shown = displayPrefixOf(s);
    expect(shown.length).toBeLessThanOrEqual(10);
    expect(s.startsWith(shown)).toBe(true);
  });
});

describe("parseBearer", () => {
  test.each([
    ["Bearer abc", "abc"],
    ["bearer abc", "abc"],
    ["BEARER abc", "abc"],
    ["bEaReR abc", "abc"],
    ["  Bearer abc  ", "abc"],
    ["Bearer abc-._~+/==", "abc-._~+/=="],
    ["Bearer xag_0123", "xag_0123"],
  ])("accepts %j as %j", (header, token) => {
    expect(parseBearer(header)).toBe(token);
  });

  test.each([
    [undefined],
    [null],
    [""],
    ["   "],
    ["Bearer"],
    ["Bearer "],
    ["Bearer  abc"],
    ["Bearer\tabc"],
    ["Bearer\nabc"],
    ["Bearer abc def"],
    ["Bearer abc\tdef"],
    ["Bearerabc"],
    ["Basic YWxhZGRpbjpvcGVuc2VzYW1l"],
    ["Token abc"],
    ["abc"],
    ["Bearer =abc"],
    ["Bearer ab=c"],
    ["Bearer abc,Bearer def"],
    ["Bearer é"],
  ])("rejects %j", (header) => {
    expect(parseBearer(header)).toBeNull();
  });

  test.prop([kindArb])("round-trips an issued token through an Authorization header", (kind) => {
    const { plaintext } = issueToken(kind);
    const token = parseBearer(`Bearer ${plaintext}`);
    expect(token).toBe(plaintext);
    expect(parseToken(token ?? "", kind)?.kind).toBe(kind);
  });
});

describe("constantTimeEqual", () => {
  test("is true for equal bytes and false otherwise", () => {
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(constantTimeEqual(Buffer.from("abc"), new Uint8Array([97, 98, 99]))).toBe(true);
  });

  test("is false on length mismatch instead of throwing", () => {
    expect(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array([0]))).toBe(false);
  });

  test.prop([fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 })])(
    "agrees with Buffer.equals",
    (a, b) => {
      expect(constantTimeEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
      expect(constantTimeEqual(a, Uint8Array.from(a))).toBe(true);
    },
  );
});

describe("keyFingerprint", () => {
  test("is sha256: plus the first 16 hex chars of the hash", () => {
    const hash = hashToken("abc");
    expect(keyFingerprint(hash)).toBe("sha256:ba7816bf8f01cfea");
  });

  test("reads the right bytes from a view into a larger buffer", () => {
    const backing = new Uint8Array(64).fill(0xff);
    backing.set(hashToken("abc"), 16);
    expect(keyFingerprint(backing.subarray(16, 48))).toBe("sha256:ba7816bf8f01cfea");
  });

  test("throws on input that is not a 32-byte digest", () => {
    expect(() => keyFingerprint(new Uint8Array(31))).toThrow(TypeError);
    expect(() => keyFingerprint(new Uint8Array(0))).toThrow(TypeError);
  });

  test.prop([kindArb])("is derived from the stored hash, not from the token text", (kind) => {
    const token = issueToken(kind);
    const fp = keyFingerprint(token.hash);
    expect(fp).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(fp).toBe(`sha256:${token.hash.toString("hex").slice(0, 16)}`);
  });
});

describe("entropy", () => {
  test("10,000 tokens: no duplicates, every base62 char appears, no modulo bias", () => {
    const plaintexts = new Set<string>();
    const hashes = new Set<string>();
    const counts = new Map<string, number>();
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const { plaintext, hash } = issueToken(KINDS[i % KINDS.length] ?? "agent");
      plaintexts.add(plaintext);
      hashes.add(hash.toString("hex"));
      for (const ch of plaintext.slice(4, 36)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(plaintexts.size).toBe(n);
    expect(hashes.size).toBe(n);
    expect([...counts.keys()].sort().join("")).toBe([...BASE62].sort().join(""));
    // Expected 5,161 per char (σ ≈ 71). Plain `byte % 62` would give chars 0-7 about +21 %; ±10 % is > 7σ.
    const expected = (n * 32) / 62;
    for (const [ch, count] of counts) {
      expect(Math.abs(count - expected) / expected, `char ${ch} count ${count}`).toBeLessThan(0.1);
    }
  });
});

describe("tenant ids", () => {
  test.each([
    ["Acme Corp", "acmecorp"],
    ["ACME-42 Production!", "acme42production"],
    ["Café Müller", "cafemuller"],
    ["ＡＢＣ Ｃｏｒｐ", "abccorp"],
    ["a".repeat(500), "a".repeat(20)],
    ["The Quick Brown Fox Jumps Over", "thequickbrownfoxjump"],
    ["", "tenant"],
    ["   ", "tenant"],
    ["🚀🔥💯", "tenant"],
    ["東京", "tenant"],
    ["___---", "tenant"],
    ["🚀 Rocket 1", "rocket1"],
  ])("derives the slug of %j as %s", (name, slug) => {
    const id = newTenantId(name);
    expect(id).toMatch(new RegExp(`^xs_${slug}_[a-z2-7]{8}$`));
    expect(isTenantId(id)).toBe(true);
  });

  test.prop([
    fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.string({ unit: "grapheme", maxLength: 60 }),
      fc.string({ unit: "grapheme-composite", maxLength: 60 }),
    ),
  ])("always produces an id accepted by isTenantId", (name) => {
    expect(isTenantId(newTenantId(name))).toBe(true);
  });

  test.prop([fc.string({ unit: "binary-ascii", maxLength: 100 })])(
    "for ASCII names the slug is the lower-cased alphanumerics, at most 20",
    (name) => {
      const slug =
        name
          .toLowerCase()
          .replace(/[^a-z0-9]/g, "")
          .slice(0, 20) || "tenant";
      expect(newTenantId(name).slice(0, -9)).toBe(`xs_${slug}`);
    },
  );

  test("the random suffix differs between calls and uses the whole base32 alphabet", () => {
    const seen = new Set<string>();
    const chars = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const suffix = newTenantId("acme").slice(-8);
      seen.add(suffix);
      for (const ch of suffix) chars.add(ch);
    }
    // 40 random bits: a collision among 10k draws has probability ~4.5e-5.
    expect(seen.size).toBeGreaterThanOrEqual(9_999);
    expect([...chars].sort().join("")).toBe("234567abcdefghijklmnopqrstuvwxyz");
  });

  test.each([
    "xs_Acme_abcdefgh",
    "xs__abcdefgh",
    `xs_${"a".repeat(21)}_abcdefgh`,
    "xs_acme_abcdefg1",
    "xs_acme_abcdefg8",
    "xs_acme_abcdefg",
    "xs_acme_abcdefghi",
    "acme_abcdefgh",
    "xs_ac-me_abcdefgh",
    "xs_acme_abcdefgh ",
    "xs_org_0123456789abcdef0123456789abcdef",
  ])("isTenantId rejects %j", (s) => {
    expect(isTenantId(s)).toBe(false);
  });
});

describe("org ids", () => {
  test("have the xs_org_<32 hex> shape and are unique", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const id = newOrgId();
      expect(id).toMatch(/^xs_org_[0-9a-f]{32}$/);
      expect(isOrgId(id)).toBe(true);
      expect(isTenantId(id)).toBe(false);
      ids.add(id);
    }
    expect(ids.size).toBe(1_000);
  });

  test.each([
    "xs_org_0123456789ABCDEF0123456789abcdef",
    "xs_org_0123456789abcdef0123456789abcde",
    "xs_org_0123456789abcdef0123456789abcdef0",
    "xs_org_0123456789abcdef0123456789abcdeg",
    "xs_0123456789abcdef0123456789abcdef",
    "xs_org_abcdefgh",
  ])("isOrgId rejects %j", (s) => {
    expect(isOrgId(s)).toBe(false);
  });

  test.prop([fc.string({ maxLength: 60 })])("tenant and org id shapes never overlap", (name) => {
    expect(isOrgId(newTenantId(name))).toBe(false);
  });
});

describe("record ids", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  test.each(RECORD_PREFIXES)("a %s id has the prefix and a 26-char Crockford body", (prefix) => {
    const id = newRecordId(prefix);
    expect(id).toMatch(new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`));
    expect(isRecordId(id)).toBe(true);
    expect(isRecordId(id, prefix)).toBe(true);
    const other = RECORD_PREFIXES.find((p) => p !== prefix) ?? "enr";
    expect(isRecordId(id, other)).toBe(false);
  });

  test("ids generated in sequence sort in generation order", () => {
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(newRecordId("dlv"));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("ids of different prefixes interleaved still sort by body in generation order", () => {
    const bodies: string[] = [];
    for (let i = 0; i < 2_000; i++) {
      const id = newRecordId(RECORD_PREFIXES[i % RECORD_PREFIXES.length] ?? "enr");
      expect(isRecordId(id)).toBe(true);
      bodies.push(id.slice(4));
    }
    expect([...bodies].sort()).toEqual(bodies);
  });

  test("the first 10 body chars encode the creation time in ms", () => {
    const before = Date.now();
    const id = newRecordId("aud");
    const after = Date.now();
    const time = decodeCrockford(id.slice(4, 14));
    // Monotonic mode may reuse the previous id's ms, which is never in the future.
    expect(time).toBeGreaterThanOrEqual(before - 1_000);
    expect(time).toBeLessThanOrEqual(after);
  });

  test("stays strictly increasing within one millisecond", async () => {
    vi.resetModules();
    const ids = await import("../../src/credentials/ids.js");
    const fixed = Date.UTC(2030, 0, 1);
    vi.spyOn(Date, "now").mockReturnValue(fixed);
    const generated = Array.from({ length: 1_000 }, () => ids.newRecordId("req"));
    for (let i = 1; i < generated.length; i++) {
      expect((generated[i] ?? "") > (generated[i - 1] ?? "")).toBe(true);
    }
    for (const id of generated) expect(decodeCrockford(id.slice(4, 14))).toBe(fixed);
  });

  test("stays strictly increasing when the wall clock steps backwards", async () => {
    vi.resetModules();
    const ids = await import("../../src/credentials/ids.js");
    let now = Date.UTC(2030, 0, 1);
    vi.spyOn(Date, "now").mockImplementation(() => {
      now -= 7;
      return now;
    });
    const generated = Array.from({ length: 500 }, () => ids.newRecordId("rev"));
    expect([...generated].sort()).toEqual(generated);
    expect(new Set(generated).size).toBe(generated.length);
  });

  test("refuses a clock beyond the 48-bit timestamp range", async () => {
    vi.resetModules();
    const ids = await import("../../src/credentials/ids.js");
    vi.spyOn(Date, "now").mockReturnValue(2 ** 48);
    expect(() => ids.newRecordId("req")).toThrow(RangeError);
  });

  test.each([
    ["xse_01arz3ndektsv4rrffq69g5fav", undefined],
    ["xag_01arz3ndektsv4rrffq69g5fav", undefined],
    ["foo_01arz3ndektsv4rrffq69g5fav", undefined],
    ["enr_01ARZ3NDEKTSV4RRFFQ69G5FAV", undefined],
    ["enr_01arz3ndektsv4rrffq69g5fa", undefined],
    ["enr_01arz3ndektsv4rrffq69g5favx", undefined],
    ["enr_01arz3ndektsv4rrffq69g5fai", undefined],
    ["enr_01arz3ndektsv4rrffq69g5fal", undefined],
    ["enr_01arz3ndektsv4rrffq69g5fao", undefined],
    ["enr_01arz3ndektsv4rrffq69g5fau", undefined],
    ["enr_81arz3ndektsv4rrffq69g5fav", undefined],
    ["enr-01arz3ndektsv4rrffq69g5fav", undefined],
    ["enr_01arz3ndektsv4rrffq69g5fav", "key"],
  ] as const)("isRecordId rejects %j (prefix %s)", (s, prefix) => {
    expect(isRecordId(s, prefix)).toBe(false);
  });

  test("isRecordId accepts a well-formed id", () => {
    expect(isRecordId("enr_01arz3ndektsv4rrffq69g5fav")).toBe(true);
    expect(isRecordId("enr_01arz3ndektsv4rrffq69g5fav", "enr")).toBe(true);
    expect(isRecordId("enr_7zzzzzzzzzzzzzzzzzzzzzzzzz", "enr")).toBe(true);
  });

  test.prop([kindArb])("a token is never mistaken for a record id", (kind) => {
    expect(isRecordId(issueToken(kind).plaintext)).toBe(false);
  });
});
