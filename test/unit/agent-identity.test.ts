import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newInstanceUid } from "../../src/credentials/index.js";
import { identityOf, isOtherAgent } from "../../src/fleet/agents/identity.js";
import { uuidStringToBytes } from "../../src/opamp/codec.js";

const attrs = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 12 }), {
  maxKeys: 6,
});

describe("agent identity (duplicate detection)", () => {
  it("is the same whatever the order the attributes come in", () => {
    fc.assert(
      fc.property(attrs, attrs, (identifying, nonIdentifying) => {
        const reversed = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).reverse());
        expect(identityOf({ identifying, nonIdentifying })).toBe(
          identityOf({ identifying: reversed(identifying), nonIdentifying: reversed(nonIdentifying) }),
        );
      }),
    );
  });

  it("tells agents apart by identifying and host.* attributes only", () => {
    const base = {
      identifying: { "service.name": "otelcol", "service.instance.id": "u" },
      nonIdentifying: { "host.name": "web-1", "os.description": "Ubuntu 24.04" },
    };
    expect(
      isOtherAgent(base, { ...base, nonIdentifying: { ...base.nonIdentifying, "host.name": "web-2" } }),
    ).toBe(true);
    expect(
      isOtherAgent(base, { ...base, identifying: { ...base.identifying, "service.name": "other" } }),
    ).toBe(true);
    expect(
      isOtherAgent(base, {
        ...base,
        nonIdentifying: { ...base.nonIdentifying, "os.description": "Ubuntu 26.04" },
      }),
    ).toBe(false);
    expect(isOtherAgent(base, base)).toBe(false);
  });

  it("never calls an agent a duplicate when either side has no description", () => {
    fc.assert(
      fc.property(attrs, attrs, (identifying, nonIdentifying) => {
        expect(isOtherAgent(undefined, { identifying, nonIdentifying })).toBe(false);
        expect(isOtherAgent({ identifying, nonIdentifying }, null)).toBe(false);
      }),
    );
  });
});

describe("newInstanceUid", () => {
  it("makes a UUIDv7 whose first 48 bits are the given milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (ms) => {
        const uid = newInstanceUid(ms);
        expect(uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        const bytes = uuidStringToBytes(uid);
        let read = 0;
        for (let i = 0; i < 6; i++) read = read * 256 + (bytes[i] ?? 0);
        expect(read).toBe(ms);
      }),
    );
  });

  it("does not repeat", () => {
    const seen = new Set(Array.from({ length: 1000 }, () => newInstanceUid(1_700_000_000_000)));
    expect(seen.size).toBe(1000);
  });
});
