// Whatever an agent or an admin puts in a label, an interpolation can only ever become one YAML
// value: it can never add a key, an item or a document, and it reads back as exactly what went in
// (or the render refuses it). And the config hash is a function of the config map's content only.

import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { parse } from "yaml";
import {
  type ConfigFile,
  compileTemplate,
  configHashHex,
  type RenderContext,
  renderConfig,
} from "../../src/render/index.js";

const noSecrets = {
  resolve: async (_tenant: string, name: string) => Promise.reject(new Error(`unexpected secret ${name}`)),
};

function withLabel(value: string): RenderContext {
  return {
    agent: { instanceUid: "01935b8e-4f2a-7c00-8abc-def012345678", labels: { v: value }, attributes: {} },
    tenant: { id: "xs_acme_abcd1234", name: "Acme" },
  };
}

// Any code point, YAML syntax in every position, and unpaired surrogates.
const hostilePiece = fc.constantFrom(
  "\n",
  ": ",
  " #",
  "#",
  '"',
  "'",
  "{",
  "}",
  "[",
  "]",
  ",",
  "-",
  "- ",
  "?",
  "|",
  ">",
  "&",
  "*",
  "!",
  "%",
  "@",
  "`",
  "\t",
  " ",
  "\r",
  "\r\n",
  "\\",
  "~",
  "---",
  "...",
  ":",
  "=",
  "a",
  "Z",
  "7",
  ".",
  "/",
  "\u0000",
  "\u0085",
  "\u2028",
  "\ufeff",
  "é",
  "😀",
);
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
const yamlTyped = fc.constantFrom(
  "4317",
  "-1",
  "+1",
  "0x1F",
  "0o17",
  "1e3",
  "1.5",
  ".5",
  ".inf",
  "-.Inf",
  ".nan",
  "true",
  "False",
  "null",
  "NULL",
  "~",
  "yes",
  "off",
  "1_000",
  "2001-12-14",
);
const labelValue = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: hostilePiece, maxLength: 12 }),
  fc.string({
    unit: fc.oneof(hostilePiece, loneSurrogate, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })),
    maxLength: 16,
  }),
  yamlTyped,
  fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?$/),
);

// Characters no scalar but a double-quoted one can carry: line breaks other than \n (\r; NEL, LS,
// PS for YAML 1.1 readers), C0/C1 controls, DEL, BOM, U+FFFE/U+FFFF, unpaired surrogates.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const UNCARRIABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]/u;

// YAML 1.2 core schema: the plain scalars that resolve to something other than a string.
const CORE_NON_STRING = [
  /^(?:~|null|Null|NULL)$/,
  /^(?:true|True|TRUE|false|False|FALSE)$/,
  /^[-+]?[0-9]+$/,
  /^0o[0-7]+$/,
  /^0x[0-9a-fA-F]+$/,
  /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/,
  /^[-+]?\.(?:inf|Inf|INF)$/,
  /^\.(?:nan|NaN|NAN)$/,
];

/** Renders a fixed template with label "v" set to `value`: the parsed YAML, or the failure reason. */
async function renderWith(
  source: string,
  value: string,
): Promise<{ parsed: Record<string, unknown> } | { reason: string }> {
  const result = await renderConfig(compileTemplate(source), withLabel(value), noSecrets);
  if (!result.ok) return { reason: result.reason };
  return { parsed: parse(result.yaml) as Record<string, unknown> };
}

const RUNS = { numRuns: 400 };

describe("an interpolated label can never change the structure of the config", () => {
  test.prop([labelValue], RUNS)(
    "plain context: strings round-trip; YAML types only plain-safe scalars",
    async (value) => {
      const out = await renderWith('before: 1\nfield: {{label "v"}}\nafter: 2\n', value);
      if (!("parsed" in out)) throw new Error(`render failed: ${out.reason}`);
      expect(Object.keys(out.parsed)).toEqual(["before", "field", "after"]);
      expect(out.parsed.before).toBe(1);
      expect(out.parsed.after).toBe(2);
      const field = out.parsed.field;
      if (typeof field === "string") {
        expect(field).toBe(value);
      } else {
        // Typed as YAML would type the same text written by hand: only for plain YAML 1.2 scalars.
        expect(CORE_NON_STRING.some((re) => re.test(value))).toBe(true);
        expect(field).toEqual(parse(`x: ${value}`).x);
      }
    },
  );

  test.prop([labelValue], RUNS)("key context: one key, exactly the value", async (value) => {
    const out = await renderWith('{{label "v"}}: field\n', value);
    if (!("parsed" in out)) throw new Error(`render failed: ${out.reason}`);
    const keys = Object.keys(out.parsed);
    expect(keys).toHaveLength(1);
    expect(Object.values(out.parsed)).toEqual(["field"]);
    if (!CORE_NON_STRING.some((re) => re.test(value))) expect(keys[0]).toBe(value);
  });

  test.prop([labelValue], RUNS)("flow context: one item, exactly the value", async (value) => {
    const out = await renderWith('list: [a, {{label "v"}}, b]\nafter: 2\n', value);
    if (!("parsed" in out)) throw new Error(`render failed: ${out.reason}`);
    expect(Object.keys(out.parsed)).toEqual(["list", "after"]);
    const list = out.parsed.list as unknown[];
    expect(list).toHaveLength(3);
    expect([list[0], list[2]]).toEqual(["a", "b"]);
    if (typeof list[1] === "string") expect(list[1]).toBe(value);
    else expect(CORE_NON_STRING.some((re) => re.test(value))).toBe(true);
  });

  test.prop([labelValue], RUNS)("double-quoted context: always renders, exact round-trip", async (value) => {
    const out = await renderWith('before: 1\nfield: "<{{label "v"}}>"\nafter: 2\n', value);
    if (!("parsed" in out)) throw new Error(`render failed: ${out.reason}`);
    expect(out.parsed).toEqual({ before: 1, field: `<${value}>`, after: 2 });
  });

  test.prop([labelValue], RUNS)(
    "single-quoted context: exact round-trip, or render_error for a line break",
    async (value) => {
      const out = await renderWith("before: 1\nfield: '<{{label \"v\"}}>'\nafter: 2\n", value);
      const refusable = value.includes("\n") || UNCARRIABLE.test(value);
      if ("reason" in out) {
        expect(out.reason).toBe("render_error");
        expect(refusable).toBe(true);
      } else {
        expect(refusable).toBe(false);
        expect(out.parsed).toEqual({ before: 1, field: `<${value}>`, after: 2 });
      }
    },
  );

  test.prop([labelValue], RUNS)("block-scalar context: exact round-trip, or render_error", async (value) => {
    // Keep chomping (|+) keeps every trailing line break, so the scalar is exactly value + "\n".
    const out = await renderWith('before: 1\nfield: |+\n  {{label "v"}}\nafter: 2\n', value);
    // A block scalar cannot carry \r or control characters, and its first line sets its
    // indentation, so it cannot start with spaces (without an explicit indentation indicator).
    const refusable = UNCARRIABLE.test(value) || (/^[ \n]*/.exec(value)?.[0] ?? "").includes(" ");
    if ("reason" in out) {
      expect(out.reason).toBe("render_error");
      expect(refusable).toBe(true);
    } else {
      expect(refusable).toBe(false);
      expect(out.parsed).toEqual({ before: 1, field: `${value}\n`, after: 2 });
    }
  });

  test.prop([labelValue], RUNS)(
    "block scalar with an indentation indicator: leading spaces are kept",
    async (value) => {
      const out = await renderWith('nested:\n  field: |2+\n    {{label "v"}}\n  after: 2\n', value);
      // Also refused: values of only spaces and line breaks (YAML readers disagree on them).
      const refusable = UNCARRIABLE.test(value) || (/^[ \n]*$/.test(value) && value.includes(" "));
      if ("reason" in out) {
        expect(out.reason).toBe("render_error");
        expect(refusable).toBe(true);
      } else {
        expect(refusable).toBe(false);
        expect(out.parsed).toEqual({ nested: { field: `${value}\n`, after: 2 } });
      }
    },
  );

  test.prop([labelValue], RUNS)(
    "comment context: the comment never spills onto another line",
    async (value) => {
      const out = await renderWith('before: 1 # note: {{label "v"}}\nafter: 2\n', value);
      if (!("parsed" in out)) throw new Error(`render failed: ${out.reason}`);
      expect(out.parsed).toEqual({ before: 1, after: 2 });
    },
  );

  test.prop([labelValue], RUNS)(
    "mid-scalar context: the value is inlined, or the render refuses it",
    async (value) => {
      const out = await renderWith('url: https://{{label "v"}}/v1\nafter: 2\n', value);
      if ("reason" in out) {
        expect(out.reason).toBe("render_error");
      } else {
        expect(out.parsed).toEqual({ url: `https://${value}/v1`, after: 2 });
      }
    },
  );
});

describe("json", () => {
  const labelMap = fc.dictionary(fc.string({ unit: "binary", maxLength: 30 }), labelValue, { maxKeys: 8 });

  test.prop([labelMap], RUNS)("json of a label map parses back to the same map", async (labels) => {
    const ctx: RenderContext = {
      agent: { instanceUid: "u", labels, attributes: {} },
      tenant: { id: "t", name: "T" },
    };
    const result = await renderConfig(
      compileTemplate("labels: {{json agent.labels}}\nafter: 2\n"),
      ctx,
      noSecrets,
    );
    if (!result.ok) throw new Error(`render failed: ${result.reason}: ${result.message}`);
    expect(parse(result.yaml)).toEqual({ labels: { ...labels }, after: 2 });
  });
});

describe("config hash", () => {
  const body = fc.oneof(fc.string({ unit: "binary", maxLength: 64 }), fc.uint8Array({ maxLength: 64 }));
  const file = fc.record({
    name: fc.string({ maxLength: 12 }),
    contentType: fc.string({ maxLength: 12 }),
    body,
  });
  const files = fc.uniqueArray(file, { selector: (f) => f.name, maxLength: 6 });

  test.prop([
    files.chain((fs) =>
      fc.tuple(fc.constant(fs), fc.shuffledSubarray(fs, { minLength: fs.length, maxLength: fs.length })),
    ),
  ])("does not depend on the order of the files", ([original, shuffled]) => {
    expect(configHashHex(shuffled)).toBe(configHashHex(original));
  });

  test.prop([
    files.filter((fs) => fs.length > 0),
    fc.nat(),
    fc.constantFrom("name", "contentType", "body"),
    fc.string({ minLength: 1, maxLength: 4 }),
  ])("changes when any name, content type or body changes", (fs, pick, field, suffix) => {
    const i = pick % fs.length;
    const target = fs[i] as ConfigFile;
    const changed: ConfigFile = { ...target };
    if (field === "name") changed.name = `${target.name}${suffix}`;
    if (field === "contentType") changed.contentType = `${target.contentType}${suffix}`;
    if (field === "body") {
      changed.body =
        typeof target.body === "string"
          ? `${target.body}${suffix}`
          : Buffer.concat([target.body, Buffer.from(suffix)]);
    }
    // A renamed file must not collide with another file's name.
    fc.pre(field !== "name" || !fs.some((f) => f.name === changed.name));
    const next = fs.map((f, j) => (j === i ? changed : f));
    expect(configHashHex(next)).not.toBe(configHashHex(fs));
  });

  test.prop([files])("is the same for a string body and its UTF-8 bytes", (fs) => {
    const asBytes = fs.map((f) => ({
      ...f,
      body: typeof f.body === "string" ? Buffer.from(f.body, "utf8") : f.body,
    }));
    expect(configHashHex(asBytes)).toBe(configHashHex(fs));
  });

  test("fields cannot be shifted into each other by concatenation", () => {
    const hashes = [
      configHashHex([{ name: "ab", contentType: "text/yaml", body: "c" }]),
      configHashHex([{ name: "a", contentType: "text/yaml", body: "bc" }]),
      configHashHex([{ name: "a", contentType: "btext/yaml", body: "c" }]),
      configHashHex([{ name: "", contentType: "text/yaml", body: "" }]),
      configHashHex([
        { name: "", contentType: "text/yaml", body: "" },
        { name: "x", contentType: "", body: "" },
      ]),
      configHashHex([]),
    ];
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  test("matches the documented encoding", async () => {
    const { createHash } = await import("node:crypto");
    const field = (s: string) => {
      const bytes = Buffer.from(s, "utf8");
      const len = Buffer.alloc(8);
      len.writeBigUInt64BE(BigInt(bytes.length));
      return Buffer.concat([len, bytes]);
    };
    const expected = createHash("sha256")
      .update(
        Buffer.concat([field(""), field("text/yaml"), field("a: 1\n"), field("z"), field("x"), field("")]),
      )
      .digest("hex");
    expect(
      configHashHex([
        { name: "z", contentType: "x", body: new Uint8Array() },
        { name: "", contentType: "text/yaml", body: "a: 1\n" },
      ]),
    ).toBe(expected);
  });

  test("refuses two files with the same name", () => {
    expect(() =>
      configHashHex([
        { name: "a", contentType: "x", body: "1" },
        { name: "a", contentType: "y", body: "2" },
      ]),
    ).toThrow(/two files named/);
  });
});
