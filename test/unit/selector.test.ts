import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { LABEL_NAME, LABEL_PREFIX, LABEL_VALUE } from "../../src/fleet/labels.js";
import {
  formatSelector,
  matchesSelector,
  parseSelector,
  type Requirement,
  SelectorSyntaxError,
} from "../../src/fleet/selector.js";

/** The requirements a selector text parses to. */
function reqs(text: string): Requirement[] {
  return parseSelector(text).requirements;
}

/** The SelectorSyntaxError a selector text fails with (fails the test if it parses). */
function syntaxError(text: string): SelectorSyntaxError {
  try {
    parseSelector(text);
  } catch (err) {
    expect(err).toBeInstanceOf(SelectorSyntaxError);
    return err as SelectorSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe("parseSelector: operators", () => {
  it("reads = and == as equality", () => {
    expect(reqs("env=prod")).toEqual([{ key: "env", op: "eq", value: "prod" }]);
    expect(reqs("env==prod")).toEqual([{ key: "env", op: "eq", value: "prod" }]);
  });

  it("reads != as inequality", () => {
    expect(reqs("tier!=web")).toEqual([{ key: "tier", op: "neq", value: "web" }]);
  });

  it("reads in (…) and notin (…) with their values in the order written", () => {
    expect(reqs("region in (us,eu,ap)")).toEqual([{ key: "region", op: "in", values: ["us", "eu", "ap"] }]);
    expect(reqs("region notin (eu)")).toEqual([{ key: "region", op: "notin", values: ["eu"] }]);
  });

  it("reads a bare key as exists and !key as does-not-exist", () => {
    expect(reqs("canary")).toEqual([{ key: "canary", op: "exists" }]);
    expect(reqs("!canary")).toEqual([{ key: "canary", op: "notexists" }]);
  });

  it("ANDs comma-separated requirements, in the order written", () => {
    expect(reqs("env=prod,region in (eu,us),!canary,tier!=web,team")).toEqual([
      { key: "env", op: "eq", value: "prod" },
      { key: "region", op: "in", values: ["eu", "us"] },
      { key: "canary", op: "notexists" },
      { key: "tier", op: "neq", value: "web" },
      { key: "team", op: "exists" },
    ]);
  });

  it("selects everything with an empty or blank selector", () => {
    expect(parseSelector("")).toEqual({ source: "", requirements: [] });
    expect(parseSelector("  \t ")).toEqual({ source: "", requirements: [] });
  });

  it("allows an empty value, as Kubernetes does", () => {
    expect(reqs("env=")).toEqual([{ key: "env", op: "eq", value: "" }]);
    expect(reqs("env!=,team")).toEqual([
      { key: "env", op: "neq", value: "" },
      { key: "team", op: "exists" },
    ]);
  });

  it("keeps an empty value at the end of a value set, as Kubernetes does", () => {
    expect(reqs("env in (prod,)")).toEqual([{ key: "env", op: "in", values: ["prod", ""] }]);
  });

  it("keeps an empty value at the start of a value set, as Kubernetes does", () => {
    // Kubernetes reads "(,prod)" as {"", "prod"}, and formatSelector writes ["", "prod"] that way.
    expect(reqs("env in (,prod)")).toEqual([{ key: "env", op: "in", values: ["", "prod"] }]);
    expect(matchesSelector(parseSelector("env in (,prod)"), { env: "" })).toBe(true);
    expect(formatSelector(parseSelector("env in (,prod)"))).toBe("env in (,prod)");
  });

  it("accepts prefixed keys such as example.com/team", () => {
    expect(reqs("example.com/team=payments,!app.kubernetes.io/name")).toEqual([
      { key: "example.com/team", op: "eq", value: "payments" },
      { key: "app.kubernetes.io/name", op: "notexists" },
    ]);
  });

  it("reads in and notin as keys where a key is expected", () => {
    expect(reqs("in=x,notin in (y)")).toEqual([
      { key: "in", op: "eq", value: "x" },
      { key: "notin", op: "in", values: ["y"] },
    ]);
  });
});

describe("parseSelector: whitespace", () => {
  it("tolerates spaces and tabs around every token", () => {
    const spaced = " \tenv = prod ,  region   in ( eu , us ) , ! canary ,tier != web\t, team ";
    expect(reqs(spaced)).toEqual(reqs("env=prod,region in (eu,us),!canary,tier!=web,team"));
  });

  it("needs no space between in and its parenthesis", () => {
    expect(reqs("env in(a,b)")).toEqual([{ key: "env", op: "in", values: ["a", "b"] }]);
  });

  it("keeps the trimmed text as the source", () => {
    expect(parseSelector("  env=prod  ").source).toBe("env=prod");
  });
});

describe("parseSelector: errors carry the 1-based column of the mistake", () => {
  it.each([
    // [selector, column, message fragment]
    ["env=prod;x", 9, "unexpected character"],
    ["env=pr*d", 7, "unexpected character"],
    ["env=prod\nteam", 9, "unexpected character"],
    ["env in", 7, "expected ("],
    ["env notin  ", 12, "expected ("],
    ["env in ()", 8, "empty value set"],
    ["env in ( )", 8, "empty value set"],
    ["env=prod,", 10, "expected a requirement after ,"],
    ["env=prod, ", 11, "expected a requirement after ,"],
    ["env=prod,,team", 10, "expected a label key"],
    ["-env=prod", 1, "invalid label key"],
    ["team,example.com/-x=1", 6, "invalid label key"],
    ["Example.com/team=x", 1, "invalid label key"],
    [`${"k".repeat(64)}=v`, 1, "invalid label key"],
    ["env in prod", 8, "expected ("],
    ["env in (a b)", 11, "expected , or )"],
    ["env in (a,b", 12, "expected , or )"],
    ["=prod", 1, "expected a label key"],
    ["!", 2, "expected a label key"],
    ["env prod", 5, "expected =, ==, !=, in, notin or ,"],
    ["env=a=b", 6, "expected ,"],
    ["!env=prod", 5, "expected ,"],
    ["env=-prod", 5, "invalid label value"],
    ["env=a/b", 5, "invalid label value"],
  ])("rejects %j at column %i (%s)", (text, column, fragment) => {
    const err = syntaxError(text);
    expect(err.column).toBe(column);
    expect(err.message).toContain(fragment);
    expect(err.message).toContain(`at column ${column}`);
    expect(err.name).toBe("SelectorSyntaxError");
  });

  it("rejects a selector over 4096 characters, and accepts one of exactly 4096", () => {
    const padded = `env=prod${" ".repeat(4096 - "env=prod".length)}`;
    expect(padded).toHaveLength(4096);
    expect(reqs(padded)).toEqual([{ key: "env", op: "eq", value: "prod" }]);
    const err = syntaxError(`${padded} `);
    expect(err.column).toBe(4097);
    expect(err.message).toContain("longer than 4096");
    // The length check comes first: a huge valid-looking selector is not tokenized at all.
    expect(syntaxError(Array.from({ length: 2000 }, (_, i) => `k${i}=v`).join(",")).column).toBe(4097);
  });
});

describe("matchesSelector: Kubernetes semantics", () => {
  const labels = { env: "prod", region: "eu", "example.com/team": "payments", empty: "" };
  const matches = (text: string, l: Record<string, string> = labels) =>
    matchesSelector(parseSelector(text), l);

  it("matches everything with an empty selector", () => {
    expect(matches("")).toBe(true);
    expect(matches("", {})).toBe(true);
  });

  it("matches = and == only when the key is present with that value", () => {
    expect(matches("env=prod")).toBe(true);
    expect(matches("env==prod")).toBe(true);
    expect(matches("env=dev")).toBe(false);
    expect(matches("tier=web")).toBe(false);
    expect(matches("empty=")).toBe(true);
    expect(matches("tier=")).toBe(false);
  });

  it("matches != and notin also when the key is absent", () => {
    expect(matches("env!=dev")).toBe(true);
    expect(matches("env!=prod")).toBe(false);
    expect(matches("tier!=web")).toBe(true);
    expect(matches("region notin (us,ap)")).toBe(true);
    expect(matches("region notin (eu)")).toBe(false);
    expect(matches("tier notin (web)")).toBe(true);
  });

  it("matches in only when the key is present with one of the values", () => {
    expect(matches("region in (us,eu)")).toBe(true);
    expect(matches("region in (us,ap)")).toBe(false);
    expect(matches("tier in (web)")).toBe(false);
  });

  it("matches exists and !key on presence alone, whatever the value", () => {
    expect(matches("empty")).toBe(true);
    expect(matches("tier")).toBe(false);
    expect(matches("!tier")).toBe(true);
    expect(matches("!empty")).toBe(false);
  });

  it("matches prefixed keys exactly, not by their name part", () => {
    expect(matches("example.com/team=payments")).toBe(true);
    expect(matches("team=payments")).toBe(false);
    expect(matches("other.com/team")).toBe(false);
  });

  it("requires every requirement to hold", () => {
    expect(matches("env=prod,region in (eu),!tier")).toBe(true);
    expect(matches("env=prod,region in (eu),tier")).toBe(false);
  });

  it("looks only at the labels' own keys, not at Object.prototype", () => {
    expect(matches("constructor", {})).toBe(false);
    expect(matches("!toString", {})).toBe(true);
    expect(matches("constructor notin (x)", {})).toBe(true);
  });
});

describe("formatSelector", () => {
  it("writes a value set holding only the empty value so that it parses back", () => {
    // Kubernetes writes the set {""} as "(,)"; "()" is an empty set, which is an error.
    const parsed = parseSelector("env notin (,)");
    expect(matchesSelector(parsed, { env: "" })).toBe(false);
    expect(matchesSelector(parsed, { env: "prod" })).toBe(true);
    expect(parseSelector(formatSelector(parsed)).requirements).toEqual(parsed.requirements);
  });

  it("writes the canonical text of each operator", () => {
    expect(formatSelector(parseSelector(" env == prod , region notin ( eu , us ) , ! canary , team "))).toBe(
      "env=prod,region notin (eu,us),!canary,team",
    );
    expect(formatSelector(parseSelector("tier!=web,zone in (a)"))).toBe("tier!=web,zone in (a)");
    expect(formatSelector(parseSelector(""))).toBe("");
  });
});

// ---- property tests ------------------------------------------------------------------------------

const labelName = fc.stringMatching(LABEL_NAME);
const labelPrefix = fc.stringMatching(LABEL_PREFIX).filter((p) => p.length <= 253);
/** Any valid label key, with or without a DNS prefix. */
const anyKey = fc.oneof(
  { weight: 3, arbitrary: labelName },
  { weight: 1, arbitrary: fc.tuple(labelPrefix, labelName).map(([p, n]) => `${p}/${n}`) },
);
/** Any valid label value, the empty one included. */
const anyValue = fc.oneof(fc.constant(""), fc.stringMatching(LABEL_VALUE));

function requirementArb(key: fc.Arbitrary<string>, value: fc.Arbitrary<string>): fc.Arbitrary<Requirement> {
  return fc.oneof(
    fc.record({ key, op: fc.constantFrom<"eq" | "neq">("eq", "neq"), value }),
    fc.record({
      key,
      op: fc.constantFrom<"in" | "notin">("in", "notin"),
      // Distinct values, and never the empty value alone: Kubernetes value sets are sets, and
      // how {""} is written is pinned by its own example test above.
      values: fc
        .uniqueArray(value, { minLength: 1, maxLength: 4 })
        .filter((values) => !(values.length === 1 && values[0] === "")),
    }),
    fc.record({ key, op: fc.constantFrom<"exists" | "notexists">("exists", "notexists") }),
  );
}

/** Optional blanks between tokens. */
const blank = fc.stringMatching(/^[ \t]{0,3}$/);

/**
 * Writes requirements as selector text the way a person might: arbitrary blanks between tokens,
 * `=` or `==` for equality. The blanks come from `pad`, one per gap.
 */
function writeSelector(requirements: Requirement[], pad: string[], doubleEquals: boolean[]): string {
  let gap = 0;
  const g = () => pad[gap++ % pad.length] ?? "";
  return requirements
    .map((r, i) => {
      switch (r.op) {
        case "exists":
          return `${g()}${r.key}${g()}`;
        case "notexists":
          return `${g()}!${g()}${r.key}${g()}`;
        case "eq":
          return `${g()}${r.key}${g()}${doubleEquals[i % doubleEquals.length] ? "==" : "="}${g()}${r.value}${g()}`;
        case "neq":
          return `${g()}${r.key}${g()}!=${g()}${r.value}${g()}`;
        case "in":
        case "notin":
          // `in` needs a blank before it (it would otherwise be part of the key).
          return `${g()}${r.key} ${g()}${r.op}${g()}(${g()}${r.values.join(`${g()},${g()}`)}${g()})${g()}`;
      }
      return "";
    })
    .join(",");
}

const writtenSelector = fc
  .record({
    requirements: fc.array(requirementArb(anyKey, anyValue), { maxLength: 6 }),
    pad: fc.array(blank, { minLength: 1, maxLength: 8 }),
    doubleEquals: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
  })
  .map(({ requirements, pad, doubleEquals }) => ({
    requirements,
    text: writeSelector(requirements, pad, doubleEquals),
  }))
  .filter(({ text }) => text.length <= 4096);

/** The reference: Kubernetes label-selector semantics, written out plainly. */
function referenceMatches(requirements: Requirement[], labels: Record<string, string>): boolean {
  for (const r of requirements) {
    const present = Object.keys(labels).includes(r.key);
    const value = present ? labels[r.key] : undefined;
    let ok: boolean;
    switch (r.op) {
      case "exists":
        ok = present;
        break;
      case "notexists":
        ok = !present;
        break;
      case "eq":
        ok = present && value === r.value;
        break;
      case "neq":
        ok = !present || value !== r.value;
        break;
      case "in":
        ok = present && r.values.some((v) => v === value);
        break;
      case "notin":
        ok = !present || !r.values.some((v) => v === value);
        break;
    }
    if (!ok) return false;
  }
  return true;
}

// A small vocabulary, so that generated selectors and label maps actually overlap.
const smallKey = fc.constantFrom("env", "tier", "example.com/team", "app.kubernetes.io/name", "constructor");
const smallValue = fc.constantFrom("", "prod", "dev", "eu", "web");
const smallLabels = fc.dictionary(smallKey, smallValue, { maxKeys: 5 });

const selectorAlphabet = [..."abcXYZ019._/- \t=!,()", "in", "notin", "=="];

describe("properties", () => {
  test.prop([writtenSelector], { numRuns: 500 })(
    "parses a written selector into the requirements it was written from, and formatSelector round-trips them",
    ({ requirements, text }) => {
      const parsed = parseSelector(text);
      expect(parsed.requirements).toEqual(requirements);
      const formatted = formatSelector(parsed);
      expect(parseSelector(formatted).requirements).toEqual(requirements);
      // The canonical text is a fixed point.
      expect(formatSelector(parseSelector(formatted))).toBe(formatted);
    },
  );

  test.prop(
    [
      fc
        .record({
          requirements: fc.array(requirementArb(smallKey, smallValue), { maxLength: 4 }),
          pad: fc.array(blank, { minLength: 1, maxLength: 4 }),
          doubleEquals: fc.array(fc.boolean(), { minLength: 1, maxLength: 2 }),
        })
        .map(({ requirements, pad, doubleEquals }) => ({
          requirements,
          text: writeSelector(requirements, pad, doubleEquals),
        })),
      smallLabels,
    ],
    { numRuns: 3000 },
  )("matchesSelector agrees with a plain reference evaluator", ({ requirements, text }, labels) => {
    expect(matchesSelector(parseSelector(text), labels)).toBe(referenceMatches(requirements, labels));
  });

  test.prop([fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 80 }))], {
    numRuns: 1000,
  })("parseSelector throws nothing but SelectorSyntaxError on arbitrary text", (text) => {
    try {
      parseSelector(text);
    } catch (err) {
      expect(err).toBeInstanceOf(SelectorSyntaxError);
    }
  });

  test.prop(
    [fc.array(fc.constantFrom(...selectorAlphabet), { maxLength: 40 }).map((parts) => parts.join(""))],
    {
      numRuns: 2000,
    },
  )(
    "on near-miss selectors, either parses to something formatSelector round-trips or points at a column within the text",
    (text) => {
      let parsed: ReturnType<typeof parseSelector>;
      try {
        parsed = parseSelector(text);
      } catch (err) {
        expect(err).toBeInstanceOf(SelectorSyntaxError);
        const { column } = err as SelectorSyntaxError;
        expect(Number.isInteger(column)).toBe(true);
        expect(column).toBeGreaterThanOrEqual(1);
        expect(column).toBeLessThanOrEqual(text.length + 1);
        return;
      }
      expect(parseSelector(formatSelector(parsed)).requirements).toEqual(parsed.requirements);
    },
  );

  test.prop([fc.string({ minLength: 4097, maxLength: 6000 })], { numRuns: 20 })(
    "rejects every selector over 4096 characters at column 4097",
    (text) => {
      expect(syntaxError(text).column).toBe(4097);
    },
  );
});
