// What a template author and an agent can make the config renderer do: the helpers it offers,
// what it refuses to compile, how it fails, how it treats secrets, and what validation accepts.

import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  type CompiledTemplate,
  compileTemplate,
  MAX_TEMPLATE_BYTES,
  maskSecretValues,
  type RenderContext,
  type RenderResult,
  renderConfig,
  SECRET_MASK,
  SecretNotFoundError,
  type SecretResolver,
  SecretUnavailableError,
  TemplateCache,
  TemplateCompileError,
  validateTemplate,
} from "../../src/render/index.js";

const UID = "01935b8e-4f2a-7c00-8abc-def012345678";

function context(
  labels: Record<string, string> = {},
  attributes: Record<string, string> = {},
): RenderContext {
  return {
    agent: { instanceUid: UID, labels, attributes },
    tenant: { id: "xs_acme_abcd1234", name: "Acme" },
  };
}

/** A SecretResolver test double over a fixed map, recording every call. */
class FakeSecrets implements SecretResolver {
  readonly calls: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly values: Record<string, string> = {},
    private readonly unavailable: Record<string, number | undefined> = {},
  ) {}

  async resolve(tenantId: string, name: string): Promise<string> {
    this.calls.push(`${tenantId}/${name}`);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.inFlight--;
    if (Object.hasOwn(this.unavailable, name)) {
      throw new SecretUnavailableError(name, "KMS is throttling requests", this.unavailable[name]);
    }
    const value = this.values[name];
    if (value === undefined) throw new SecretNotFoundError(name);
    return value;
  }
}

async function render(
  source: string,
  ctx = context(),
  secrets: SecretResolver = new FakeSecrets(),
): Promise<RenderResult> {
  return renderConfig(compileTemplate(source), ctx, secrets);
}

/** Renders and returns the YAML text, failing the test on a render failure. */
async function renderYaml(
  source: string,
  ctx = context(),
  secrets: SecretResolver = new FakeSecrets(),
): Promise<string> {
  const result = await render(source, ctx, secrets);
  if (!result.ok) throw new Error(`render failed: ${result.reason}: ${result.message}`);
  return result.yaml;
}

async function renderObject(
  source: string,
  ctx = context(),
  secrets: SecretResolver = new FakeSecrets(),
): Promise<unknown> {
  return parse(await renderYaml(source, ctx, secrets));
}

function compileIssues(source: string): TemplateCompileError {
  try {
    compileTemplate(source);
  } catch (err) {
    if (err instanceof TemplateCompileError) return err;
    throw err;
  }
  throw new Error("expected a TemplateCompileError");
}

describe("helpers", () => {
  it("label writes a server-assigned label, or its fallback, or an empty string", async () => {
    const source = 'env: {{label "env"}}\ntier: {{label "tier" "web"}}\nzone: {{label "zone"}}\n';
    expect(await renderObject(source, context({ env: "prod" }))).toEqual({
      env: "prod",
      tier: "web",
      zone: "",
    });
    expect(await renderObject(source, context({ env: "dev", tier: "db", zone: "eu-1" }))).toEqual({
      env: "dev",
      tier: "db",
      zone: "eu-1",
    });
  });

  it("attr reads agent-reported attributes, never labels", async () => {
    const source = 'os: {{attr "os.type" "unknown"}}\nenv: {{attr "env" "none"}}\n';
    const ctx = context({ env: "prod" }, { "os.type": "linux" });
    expect(await renderObject(source, ctx)).toEqual({ os: "linux", env: "none" });
  });

  it("default replaces undefined, null and empty values, and keeps anything else", async () => {
    const source = [
      'missing: {{default agent.labels.tier "web"}}',
      'empty: {{default agent.labels.empty "fallback"}}',
      'present: {{default agent.labels.env "fallback"}}',
      'nested: {{default (label "otlp_endpoint") "https://otlp.example.com"}}',
      "",
    ].join("\n");
    expect(await renderObject(source, context({ env: "prod", empty: "" }))).toEqual({
      missing: "web",
      empty: "fallback",
      present: "prod",
      nested: "https://otlp.example.com",
    });
  });

  it("json writes a map as a YAML flow mapping that parses back to the same map", async () => {
    const labels = { env: "prod", "weird key": 'a: "b"\n- c', "#": "{[,]}" };
    expect(await renderObject("labels: {{json agent.labels}}\n", context(labels))).toEqual({ labels });
  });

  it("json of a missing value is null, and inside quotes it is just text", async () => {
    expect(await renderObject('a: {{json agent.labels.none}}\nb: "{{json agent.tenant}}"\n')).toEqual({
      a: null,
      b: "null",
    });
    expect(await renderObject('q: "{{json agent.labels}}"\n', context({ k: "v" }))).toEqual({
      q: '{"k":"v"}',
    });
  });

  it("eq and ne compare values as text inside #if", async () => {
    const source = [
      '{{#if (eq (label "env") "prod")}}level: warn{{else}}level: debug{{/if}}',
      '{{#if (ne (label "port") 4317)}}custom: true{{/if}}',
      '{{#if (eq (label "port") 4317)}}standard: true{{/if}}',
      "",
    ].join("\n");
    expect(await renderObject(source, context({ env: "prod", port: "4317" }))).toEqual({
      level: "warn",
      standard: true,
    });
    expect(await renderObject(source, context({ env: "dev", port: "4318" }))).toEqual({
      level: "debug",
      custom: true,
    });
  });

  it("join joins the values of a map in key order", async () => {
    const ctx = context({ b: "two", a: "one", c: "three" });
    expect(await renderObject('all: "{{join agent.labels ","}}"\n', ctx)).toEqual({ all: "one,two,three" });
    expect(await renderObject('none: "{{join agent.labels.missing ","}}"\n', ctx)).toEqual({ none: "" });
  });

  it("each iterates labels in key order, whatever order they were given in", async () => {
    const source = "labels:\n{{#each agent.labels}}\n  {{@key}}: {{this}}\n{{/each}}\n";
    const a = await renderYaml(source, context({ zone: "eu", app: "api", env: "prod" }));
    const b = await renderYaml(source, context({ env: "prod", zone: "eu", app: "api" }));
    expect(a).toBe("labels:\n  app: api\n  env: prod\n  zone: eu\n");
    expect(b).toBe(a);
  });

  it("if, unless and with work on missing labels without failing", async () => {
    const source = [
      "{{#if agent.labels.canary}}canary: true{{/if}}",
      "{{#unless agent.labels.canary}}stable: true{{/unless}}",
      "{{#with tenant}}tenant: {{name}}{{/with}}",
      "",
    ].join("\n");
    expect(await renderObject(source)).toEqual({ stable: true, tenant: "Acme" });
    expect(await renderObject(source, context({ canary: "yes" }))).toEqual({ canary: true, tenant: "Acme" });
  });

  it("exposes the agent's instance uid and the tenant", async () => {
    expect(await renderObject("uid: {{agent.instanceUid}}\ntenant: {{tenant.id}}\n")).toEqual({
      uid: UID,
      tenant: "xs_acme_abcd1234",
    });
  });

  it("refuses to interpolate a map as text", async () => {
    const result = await render("labels: {{agent.labels}}\n", context({ env: "prod" }));
    expect(result).toMatchObject({ ok: false, reason: "render_error", line: 1, column: 9 });
  });
});

describe("strict variables", () => {
  it("fails with missing_variable naming the path and its position", async () => {
    const result = await render("a: 1\nb: {{agent.labels.tier}}\n", context({ env: "prod" }));
    expect(result).toEqual({
      ok: false,
      reason: "missing_variable",
      message: 'variable "agent.labels.tier" is not defined for this agent',
      line: 2,
      column: 6,
    });
  });

  it("lets helper arguments name a missing label (default, label fallback, if)", async () => {
    const source = 'tier: {{default agent.labels.tier "web"}}\n{{#if agent.labels.tier}}x: 1{{/if}}\n';
    expect(await renderObject(source)).toEqual({ tier: "web" });
  });

  it("still fails when a helper argument goes through a missing map", async () => {
    const result = await render('a: {{default agent.nothing.tier "web"}}\n');
    expect(result).toMatchObject({ ok: false, reason: "missing_variable", line: 1 });
    expect(!result.ok && result.message).toContain("agent.nothing.tier");
  });
});

describe("allow-listed helpers only", () => {
  const rejected: Array<[string, string, number, number, RegExp]> = [
    ["unknown helper", "a: 1\nb: {{shout agent.instanceUid}}\n", 2, 4, /unknown helper "shout"/],
    [
      "unknown helper in a subexpression",
      'a: {{default (upper "x") "y"}}\n',
      1,
      14,
      /unknown helper "upper"/,
    ],
    ["log", '{{log "hello"}}\na: 1\n', 1, 1, /unknown helper "log"/],
    ["lookup", 'a: {{lookup agent.labels "env"}}\n', 1, 4, /unknown helper "lookup"/],
    ["helperMissing", "a: {{helperMissing}}\n", 1, 4, /unknown helper "helperMissing"/],
    [
      "blockHelperMissing",
      "a: {{#blockHelperMissing x}}y{{/blockHelperMissing}}\n",
      1,
      4,
      /unknown block helper/,
    ],
    [
      "the internal escaping helper",
      "a: {{__yaml_escape agent 0}}\n",
      1,
      4,
      /unknown helper "__yaml_escape"/,
    ],
    ["a partial", "a: 1\n  {{> secrets}}\n", 2, 3, /partials/],
    ["a partial block", "{{#> layout}}x{{/layout}}\n", 1, 1, /partials/],
    ["a decorator", "a: 1\n{{* activate}}\n", 2, 1, /decorators/],
    ["an inline partial", '{{#*inline "x"}}y{{/inline}}\na: 1\n', 1, 1, /decorators/],
    ["a custom block", "{{#repeat 3}}x{{/repeat}}\n", 1, 1, /unknown block helper "repeat"/],
    ["a value helper used as a block", '{{#secret "x"}}y{{/secret}}\n', 1, 1, /not a block helper/],
    ["a block helper used inline", "a: {{if agent.labels.x}}\n", 1, 4, /block helper/],
    ["a dynamic secret name", 'a: {{secret (label "name")}}\n', 1, 4, /literal secret name/],
    ["a helper with too many arguments", 'a: {{label "a" "b" "c"}}\n', 1, 4, /label takes 1 or 2 argument/],
    ["a helper without arguments", "a: {{json}}\n", 1, 4, /json takes 1 argument/],
    ["a literal interpolation", 'a: {{"text"}}\n', 1, 4, /literal/],
    ["a raw block", "{{{{raw}}}}{{x}}{{{{/raw}}}}\n", 1, 1, /unknown block helper "raw"/],
    [
      "a block parameter shadowing a helper",
      "{{#each agent.labels as |secret|}}{{secret}}{{/each}}\n",
      1,
      1,
      /block parameter "secret"/,
    ],
  ];

  it.each(rejected)("rejects %s with its line and column", (_what, source, line, column, message) => {
    const err = compileIssues(source);
    expect(err.issues[0]).toMatchObject({ line, column });
    expect(err.issues[0]?.message).toMatch(message);
    expect(validateTemplate(source)[0]).toMatchObject({ line, column });
  });

  it("reports every problem of a template, not just the first", () => {
    const err = compileIssues("a: {{log 1}}\nb: {{> p}}\nc: {{nope 2}}\n");
    expect(err.issues.map((i) => i.line)).toEqual([1, 2, 3]);
  });

  it("reports a syntax error with its line and column", () => {
    const err = compileIssues("receivers:\n  otlp: {{default agent.labels.x }\n");
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).toMatchObject({ line: 2, column: 34 });
    expect(err.issues[0]?.message).toMatch(/^syntax error: unexpected/);
    expect(err.message).toContain("line 2, column 34");
  });

  it("reports an unclosed block at the end of the template", () => {
    expect(compileIssues("a: 1\n{{#if agent.labels.x}}\nb: 2\n").issues[0]).toMatchObject({
      line: 4,
      column: 1,
      message: expect.stringMatching(/unexpected end of template/),
    });
  });

  it("reports mismatched block tags", () => {
    expect(compileIssues("{{#if a}}\nx: 1\n{{/each}}\n").issues[0]?.message).toMatch(/if doesn't match each/);
  });

  it("rejects templates over 256 KiB", () => {
    const source = `a: "${"x".repeat(MAX_TEMPLATE_BYTES)}"\n`;
    expect(compileIssues(source).issues[0]?.message).toMatch(/limit is 262144 bytes/);
  });

  it.each([
    ["blocks", (n: number) => `${"{{#if a}}".repeat(n)}x: 1${"{{/if}}".repeat(n)}\n`],
    ["else-if chains", (n: number) => `{{#if a}}x: 1${"{{else if b}}y: 2".repeat(n)}{{/if}}\n`],
    ["subexpressions", (n: number) => `a: {{default ${"(default ".repeat(n)}1${' "y")'.repeat(n)} 3}}\n`],
  ])("rejects %s nested more than 64 deep, quickly, whatever the depth", (_what, nest) => {
    expect(() => compileTemplate(nest(60))).not.toThrow();
    for (const depth of [65, 200, 15_000]) {
      const started = performance.now();
      const err = compileIssues(nest(depth));
      expect(err.issues).toEqual([
        expect.objectContaining({
          message: "blocks and subexpressions are nested more than 64 deep",
          line: 1,
        }),
      ]);
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });

  it("stops a template that loops more than 10,000 times", async () => {
    const labels = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, "v"]));
    const loop = "{{#each @root.agent.labels}}";
    const source = `lines: |\n${loop.repeat(3)}  x\n${"{{/each}}".repeat(3)}`;
    expect(await render(source, context(labels))).toMatchObject({
      ok: false,
      reason: "render_error",
      message: expect.stringMatching(/more than 10000 #each iterations/),
    });
    expect(await render(source, context({ a: "1", b: "2" }))).toMatchObject({ ok: true });
  });

  it("escapes triple-stash interpolations like any other: there is no raw output", async () => {
    expect(await renderObject("a: {{{agent.labels.v}}}\n", context({ v: "x\nb: injected" }))).toEqual({
      a: "x\nb: injected",
    });
  });
});

describe("no prototype access", () => {
  const ctx = context({ env: "prod" }, { "os.type": "linux" });

  it.each([
    "a: {{agent.constructor}}\n",
    "a: {{__proto__}}\n",
    "a: {{constructor}}\n",
    "a: {{agent.labels.__proto__}}\n",
    "a: {{agent.labels.constructor.name}}\n",
    "a: {{agent.labels.hasOwnProperty}}\n",
    "a: {{@root.constructor}}\n",
    "{{#with agent}}a: {{constructor}}{{/with}}\n",
  ])("%s finds nothing and fails as a missing variable", async (source) => {
    expect(await render(source, ctx)).toMatchObject({ ok: false, reason: "missing_variable" });
  });

  it("prototype members are never reachable through helper arguments", async () => {
    const source = [
      'a: {{default agent.constructor "safe"}}',
      "b: {{json agent.__proto__}}",
      'c: "{{json agent.labels.toString}}"',
      "{{#if agent.constructor}}d: reached{{/if}}",
      "",
    ].join("\n");
    expect(await renderObject(source, ctx)).toEqual({ a: "safe", b: null, c: "null" });
  });

  it.each([
    "a: {{agent.instanceUid.constructor}}\n",
    "{{#each agent.labels}}a: {{this.__proto__}}{{/each}}\n",
  ])("%s (a field of a text value) is a render error, not a prototype lookup", async (source) => {
    expect(await render(source, ctx)).toMatchObject({ ok: false, reason: "render_error" });
  });

  it("cannot reach Function through a call", () => {
    expect(
      compileIssues('a: {{agent.constructor.constructor "return process"}}\n').issues[0]?.message,
    ).toMatch(/unknown helper/);
  });

  it("labels named like prototype members are ordinary labels", async () => {
    // JSON.parse makes "__proto__" an own key, as labels decoded from a request body are.
    const withProto = JSON.parse('{"constructor": "c", "__proto__": "p", "toString": "t"}') as Record<
      string,
      string
    >;
    const result = await renderObject(
      'a: {{agent.labels.constructor}}\nb: {{label "__proto__"}}\nc: {{agent.labels.toString}}\n',
      context(withProto),
    );
    expect(result).toEqual({ a: "c", b: "p", c: "t" });
  });
});

describe("output must be a YAML mapping", () => {
  it("fails with invalid_yaml and the position in the rendered output", async () => {
    const result = await render('a: [1, 2\nb: {{label "x"}}\n');
    expect(result).toMatchObject({ ok: false, reason: "invalid_yaml" });
    expect(!result.ok && result.line).toBeGreaterThanOrEqual(1);
  });

  it("fails with not_a_mapping for a sequence, a scalar or nothing", async () => {
    expect(await render('- {{label "x" "a"}}\n- b\n')).toMatchObject({
      ok: false,
      reason: "not_a_mapping",
      line: 1,
      column: 1,
    });
    expect(await render("just text\n")).toMatchObject({ ok: false, reason: "not_a_mapping" });
    expect(await render("{{#if agent.labels.x}}a: 1{{/if}}\n")).toMatchObject({
      ok: false,
      reason: "not_a_mapping",
    });
  });

  it("fails on duplicate keys, including keys that only collide for a given agent", async () => {
    expect(await render("a: 1\nb: 2\na: 3\n")).toMatchObject({
      ok: false,
      reason: "invalid_yaml",
      line: 3,
      column: 1,
    });
    const source = 'processors:\n  {{label "first"}}: {}\n  {{label "second"}}: {}\n';
    expect(await renderObject(source, context({ first: "batch", second: "memory_limiter" }))).toEqual({
      processors: { batch: {}, memory_limiter: {} },
    });
    expect(await render(source, context({ first: "batch", second: "batch" }))).toMatchObject({
      ok: false,
      reason: "invalid_yaml",
      line: 3,
    });
  });

  it("fails on more than one document", async () => {
    expect(await render("a: 1\n---\nb: 2\n")).toMatchObject({ ok: false, reason: "invalid_yaml" });
  });
});

describe("secrets", () => {
  it("resolves each secret once, in parallel, and returns the values used for masking", async () => {
    const secrets = new FakeSecrets({ token: "s3cr3t-token", user: "otel", unused: "never" });
    const source = [
      'a: "Bearer {{secret "token"}}"',
      'b: {{secret "user"}}',
      'c: "{{secret "token"}}"',
      "{{#if agent.labels.never}}",
      'd: {{secret "unused"}}',
      "{{/if}}",
      "",
    ].join("\n");
    const result = await render(source, context(), secrets);
    expect(result).toEqual({
      ok: true,
      yaml: 'a: "Bearer s3cr3t-token"\nb: otel\nc: "s3cr3t-token"\n',
      secretNames: ["token", "user"],
      secretValues: ["s3cr3t-token", "otel"],
    });
    expect(secrets.calls.sort()).toEqual(["xs_acme_abcd1234/token", "xs_acme_abcd1234/user"]);
    expect(secrets.maxInFlight).toBe(2);
  });

  it("escapes secret values like any other value", async () => {
    const secrets = new FakeSecrets({ pem: "-----BEGIN KEY-----\nabc\n-----END KEY-----\n", pw: 'p"w: #1' });
    const source = 'key: |\n  {{secret "pem"}}\npw: {{secret "pw"}}\nquoted: "{{secret "pw"}}"\n';
    expect(await renderObject(source, context(), secrets)).toEqual({
      key: "-----BEGIN KEY-----\nabc\n-----END KEY-----\n",
      pw: 'p"w: #1',
      quoted: 'p"w: #1',
    });
  });

  it("fails with missing_secret naming the secret, and returns no output", async () => {
    const secrets = new FakeSecrets({ a: "1" });
    const result = await render(
      'a: {{secret "a"}}\nb: {{secret "zz"}}\nc: {{secret "b"}}\n',
      context(),
      secrets,
    );
    expect(result).toEqual({
      ok: false,
      reason: "missing_secret",
      message: 'secret "b" does not exist',
      secretName: "b",
    });
  });

  it("fails with secret_unavailable and the retry delay when the KMS cannot answer", async () => {
    const secrets = new FakeSecrets({ a: "1" }, { b: 30 });
    const result = await render('a: {{secret "a"}}\nb: {{secret "b"}}\n', context(), secrets);
    expect(result).toEqual({
      ok: false,
      reason: "secret_unavailable",
      message: 'secret "b" is unavailable: KMS is throttling requests',
      secretName: "b",
      retryAfterSeconds: 30,
    });
  });

  it("prefers reporting a missing secret over an unavailable one", async () => {
    const secrets = new FakeSecrets({}, { a: 5 });
    expect(await render('a: {{secret "a"}}\nb: {{secret "b"}}\n', context(), secrets)).toMatchObject({
      reason: "missing_secret",
      secretName: "b",
    });
  });

  it("resolves secrets chosen by another secret's value, ignoring branches not taken", async () => {
    // "token" does not exist: the first pass (mode still a placeholder) asks for it, the final
    // pass does not use it, so it does not fail the render.
    const secrets = new FakeSecrets({ mode: "mtls", cert: "CERT" });
    const source =
      '{{#if (eq (secret "mode") "mtls")}}cert: {{secret "cert"}}{{else}}token: {{secret "token"}}{{/if}}\n';
    const result = await render(source, context(), secrets);
    expect(result).toEqual({
      ok: true,
      yaml: "cert: CERT\n",
      secretNames: ["cert", "mode"],
      secretValues: ["CERT", "mtls"],
    });
    expect(await render(source, context(), new FakeSecrets({ mode: "token" }))).toMatchObject({
      ok: false,
      reason: "missing_secret",
      secretName: "token",
    });
  });

  it("never puts a secret value in a failure message", async () => {
    const secrets = new FakeSecrets({ pw: "hunter2-line\nsecond" });
    const result = await render("pw: '{{secret \"pw\"}}'\n", context(), secrets);
    expect(result).toMatchObject({ ok: false, reason: "render_error", line: 1, column: 6 });
    expect(JSON.stringify(result)).not.toContain("hunter2");
  });

  it("rethrows resolver errors that are neither not-found nor unavailable", async () => {
    const broken: SecretResolver = { resolve: async () => Promise.reject(new Error("bug")) };
    await expect(render('a: {{secret "x"}}\n', context(), broken)).rejects.toThrow("bug");
  });

  it("masks a rendered secret in every form a YAML context writes it in, and a mask only once", async () => {
    const pem = "-----BEGIN KEY-----\nabc\\def\n-----END KEY-----";
    const pw = `it's "q\\uoted"`;
    const source = [
      'block: |\n  {{secret "pem"}}',
      'double: "{{secret "pw"}}"',
      "single: '{{secret \"pw\"}}'",
      'plain: {{secret "pw"}}',
      'json: {{json (secret "pw")}}',
      '# {{secret "pw"}}',
      "",
    ].join("\n");
    const result = await render(source, context(), new FakeSecrets({ pem, pw }));
    if (!result.ok) throw new Error(result.message);
    const masked = maskSecretValues(result.yaml, result.secretValues);
    for (const line of [...pem.split("\n"), pw, "abc", "uoted"]) expect(masked).not.toContain(line);
    expect(parse(masked)).toMatchObject({
      block: `${SECRET_MASK}\n${SECRET_MASK}\n${SECRET_MASK}\n`,
      double: SECRET_MASK,
      single: SECRET_MASK,
      plain: SECRET_MASK,
      json: SECRET_MASK,
    });
    // A value inside the mask's own text is not masked again.
    expect(maskSecretValues("a: RED", ["RED"])).toBe(`a: ${SECRET_MASK}`);
    // Forms shorter than the minimum are left alone (agent reports); blank ones always are.
    expect(maskSecretValues("port: 4317 otel", ["otel", "431", "  "], 4)).toBe(`port: 4317 ${SECRET_MASK}`);
  });

  it("lists the secrets a template can reference", () => {
    expect(compileTemplate('a: {{secret "b"}}\nc: {{secret "a"}}\nd: {{secret "b"}}\n').secretNames).toEqual([
      "a",
      "b",
    ]);
  });
});

describe("validateTemplate: variables no agent can have", () => {
  it.each([
    ["a: {{nosuch}}\n", "nosuch", 1, 6],
    ["a: 1\nb: {{tenant.nosuch}}\n", "tenant.nosuch", 2, 6],
    ["a: {{agent.instanceUid.x}}\n", "agent.instanceUid.x", 1, 6],
    ['a: {{default agent.nothing.tier "web"}}\n', "agent.nothing.tier", 1, 14],
    ["{{#with agent}}a: {{constructor}}{{/with}}\n", "constructor", 1, 21],
    ["{{#each agent.labels as |v k|}}a: {{v.x}}{{/each}}\n", "v.x", 1, 37],
    ["{{#each agent.labels}}a: {{../nosuch}}{{/each}}\n", "../nosuch", 1, 28],
    ["a: {{@root.tenant.region}}\n", "@root.tenant.region", 1, 6],
  ])("%s is refused naming %s at its position (of the variable)", (source, variable, line, column) => {
    const issues = validateTemplate(source);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line, column });
    expect(issues[0]?.message).toContain(`undefined variable "${variable}"`);
  });

  it.each([
    'a: {{default tenant.region "eu"}}\n',
    "x: 1\n{{#if agent.constructor}}a: 1{{/if}}\n",
    "x: 1\n{{#each agent.attributes as |value key|}}{{key}}: {{value}}-{{../tenant.id}}\n{{/each}}",
    "{{#with tenant}}a: {{id}}-{{name}}-{{../agent.instanceUid}}{{/with}}\n",
    "a: {{agent.labels.any_key}}\nb: {{agent.attributes.[host.name]}}\n",
  ])("%s is accepted: a render context can satisfy it", (source) => {
    expect(validateTemplate(source)).toEqual([]);
  });
});

describe("validateTemplate", () => {
  it("accepts a template that uses labels and attributes a sample agent does not have", () => {
    const source = [
      "exporters:",
      "  otlphttp:",
      "    endpoint: {{agent.labels.otlp_endpoint}}",
      '    headers: { X-Tier: "{{agent.labels.tier}}", X-Host: {{attr "host.name"}} }',
      "processors:",
      "  {{agent.labels.first_processor}}: {}",
      "  {{agent.labels.second_processor}}: {}",
      '  {{label "third"}}: {}',
      '  {{label "fourth"}}: {}',
      "{{#each agent.labels.extra}}",
      "  {{@key}}: {{this}}",
      "{{/each}}",
      'token: {{secret "otlp_token"}}',
      "",
    ].join("\n");
    expect(validateTemplate(source)).toEqual([]);
  });

  it("returns compile errors with their template position", () => {
    expect(validateTemplate("a: 1\nb: {{nope x}}\n")).toEqual([
      expect.objectContaining({ line: 2, column: 4 }),
    ]);
  });

  it("maps a YAML error in the static text back to the template line", () => {
    const source = 'a: {{label "x"}}\n{{#if agent.labels.y}}\nb: 1\n{{/if}}\nc: d: e\n';
    expect(validateTemplate(source)).toEqual([
      { message: expect.stringMatching(/not valid YAML: Nested mappings/), line: 5, column: 4 },
    ]);
  });

  it("maps duplicate static keys back to the template line", () => {
    const source = "{{#if agent.labels.a}}\nx: 1\n{{/if}}\nreceivers: {}\nexporters: {}\nreceivers: {}\n";
    expect(validateTemplate(source)).toEqual([
      { message: expect.stringMatching(/unique/), line: 6, column: 1 },
    ]);
  });

  it("rejects a template that is not a mapping", () => {
    expect(validateTemplate("- a\n- b\n")).toEqual([
      {
        message: expect.stringMatching(/must be a YAML mapping at the top level, got a sequence/),
        line: 1,
        column: 1,
      },
    ]);
  });

  it("rejects an interpolation placed inside a double-quoted escape", () => {
    // Handlebars reads `\\\{{` as an escaped backslash before a mustache: YAML sees `"\\` + value.
    expect(validateTemplate('a: "\\\\\\{{label "x"}}"\n')).toEqual([]);
    // `\\{{` leaves one backslash, which would escape the value's first character.
    expect(validateTemplate('a: "\\\\{{label "x"}}"\n')[0]).toMatchObject({
      line: 1,
      column: 7,
      message: expect.stringMatching(/backslash/),
    });
    expect(validateTemplate('a: "\\u{{label "x"}}"\n')[0]).toMatchObject({
      line: 1,
      column: 7,
      message: expect.stringMatching(/backslash/),
    });
  });

  it("reports interpolations that can never be written safely", () => {
    expect(validateTemplate("a: {{agent.labels}}\n")[0]).toMatchObject({
      line: 1,
      column: 4,
      message: expect.stringMatching(/json/),
    });
  });
});

describe("TemplateCache", () => {
  const source = 'a: {{label "x" "1"}}\n';

  it("returns the compiled template of a revision from the cache", () => {
    const cache = new TemplateCache(2);
    const first = cache.get("rev_1", source);
    expect(cache.get("rev_1", source)).toBe(first);
    expect(cache.size).toBe(1);
  });

  it("evicts the least recently used revision", () => {
    const cache = new TemplateCache(2);
    const one = cache.get("rev_1", source);
    const two = cache.get("rev_2", source);
    cache.get("rev_1", source);
    cache.get("rev_3", source);
    expect(cache.size).toBe(2);
    expect(cache.get("rev_1", source)).toBe(one);
    expect(cache.get("rev_2", source)).not.toBe(two);
  });

  it("recompiles when a revision id comes back with different content", async () => {
    const cache = new TemplateCache();
    const a = cache.get("rev_1", "a: 1\n");
    const b = cache.get("rev_1", "b: 2\n");
    expect(b).not.toBe(a);
    expect(await renderConfig(b, context(), new FakeSecrets())).toMatchObject({ ok: true, yaml: "b: 2\n" });
  });

  it("does not cache templates that fail to compile", () => {
    const cache = new TemplateCache();
    expect(() => cache.get("rev_bad", "a: {{nope x}}\n")).toThrow(TemplateCompileError);
    expect(cache.size).toBe(0);
  });
});

describe("determinism", () => {
  it("renders byte-identical output for the same template, context and secrets", async () => {
    const source = [
      "labels: {{json agent.labels}}",
      "attributes:",
      "{{#each agent.attributes}}",
      "  {{@key}}: {{this}}",
      "{{/each}}",
      'token: "{{secret "t"}}"',
      "",
    ].join("\n");
    const tpl: CompiledTemplate = compileTemplate(source);
    const secrets = new FakeSecrets({ t: "tok" });
    const first = await renderConfig(tpl, context({ b: "2", a: "1" }, { y: "1", x: "2" }), secrets);
    const second = await renderConfig(tpl, context({ a: "1", b: "2" }, { x: "2", y: "1" }), secrets);
    expect(first.ok).toBe(true);
    expect(second).toEqual(first);
  });
});

describe("YAML-safe interpolation", () => {
  const cases: Array<[string, string, string, unknown]> = [
    ["a port stays a number", 'port: {{label "v"}}\n', "4317", { port: 4317 }],
    [
      "a hostname stays plain",
      'host: {{label "v"}}\n',
      "otel.example.com:4317",
      { host: "otel.example.com:4317" },
    ],
    ["a value with ': ' is quoted", 'k: {{label "v"}}\n', "a: b", { k: "a: b" }],
    ["a newline cannot add a key", 'k: {{label "v"}}\n', "x\nevil: 1", { k: "x\nevil: 1" }],
    ["a comment marker stays in the value", 'k: {{label "v"}}\n', "x # y", { k: "x # y" }],
    ["a sequence indicator stays in the value", 'k:\n  - {{label "v"}}\n', "- a", { k: ["- a"] }],
    ["an empty value stays a string", 'k: {{label "v"}}\n', "", { k: "" }],
    ["a key is quoted when needed", '{{label "v"}}: 1\n', "a: b", { "a: b": 1 }],
    ["flow items cannot be split", 'k: [{{label "v"}}, z]\n', "x, y", { k: ["x, y", "z"] }],
    ["quotes are escaped in double quotes", 'k: "<{{label "v"}}>"\n', 'a"\\b\n', { k: '<a"\\b\n>' }],
    ["quotes are doubled in single quotes", "k: '<{{label \"v\"}}>'\n", "it's", { k: "<it's>" }],
    [
      "block scalars are re-indented",
      'k: |\n  first\n  {{label "v"}}\nz: 1\n',
      "a\nz: 2",
      { k: "first\na\nz: 2\n", z: 1 },
    ],
    [
      "nested block scalars are re-indented",
      'a:\n  k: |-\n    {{label "v"}}\n  z: 1\n',
      "x\n  y: 2",
      { a: { k: "x\n  y: 2", z: 1 } },
    ],
    [
      "an explicit indentation indicator allows leading spaces",
      'k: |2\n  {{label "v"}}\n',
      "  a\nb",
      { k: "  a\nb\n" },
    ],
    ["a comment stays one line", 'k: 1 # {{label "v"}}\n', "x\nevil: 1", { k: 1 }],
    [
      "mid-scalar plain-safe values are inlined",
      'url: https://{{label "v"}}:4317/v1\n',
      "otel.example.com",
      { url: "https://otel.example.com:4317/v1" },
    ],
    ["a tag before a value", 'k: !!str {{label "v"}}\n', "4317", { k: "4317" }],
    ["a quoted key", '"{{label "v"}}": 1\n', 'a"b', { 'a"b': 1 }],
    ["an apostrophe in plain text opens no quote", 'k: it\'s {{label "v"}}\n', "x", { k: "it's x" }],
    ["a # without a space before it opens no comment", 'k: a#{{label "v"}}\n', "x", { k: "a#x" }],
    [
      "a double-quoted scalar over two lines",
      'k: "one\n  {{label "v"}} two"\n',
      'a"\nb: c',
      { k: 'one a"\nb: c two' },
    ],
    [
      "a flow mapping over several lines",
      'k: {\n  a: {{label "v"}},\n  b: 2\n}\n',
      "x, c: 3",
      { k: { a: "x, c: 3", b: 2 } },
    ],
    [
      "a block scalar ends at a less-indented key",
      'a:\n  s: |\n    text\n  k: {{label "v"}}\n',
      "x\ny: 1",
      { a: { s: "text\n", k: "x\ny: 1" } },
    ],
    [
      "a block scalar in a sequence item",
      'l:\n  - s: |\n      {{label "v"}}\n    k: 1\n',
      "a\nk: 2",
      { l: [{ s: "a\nk: 2\n", k: 1 }] },
    ],
    [
      "a folded block scalar folds but keeps the structure",
      'k: >-\n  {{label "v"}}\nz: 1\n',
      "a\nz: 2",
      { k: "a z: 2", z: 1 },
    ],
  ];

  it.each(cases)("%s", async (_what, source, value, expected) => {
    expect(await renderObject(source, context({ v: value }))).toEqual(expected);
  });

  const failures: Array<[string, string, string, RegExp]> = [
    ["a newline in single quotes", "k: '{{label \"v\"}}'\n", "a\nb", /use double quotes/],
    [
      "unsafe text in the middle of an unquoted scalar",
      'url: https://{{label "v"}}/x\n',
      "a b: c",
      /double quotes/,
    ],
    ["a leading space deciding a block's indentation", 'k: |\n  {{label "v"}}\n', "  a", /indentation/],
    ["a carriage return in a block scalar", 'k: |\n  {{label "v"}}\n', "a\rb: 1", /carriage return/],
  ];

  it.each(failures)("refuses %s", async (_what, source, value, message) => {
    const result = await render(source, context({ v: value }));
    expect(result).toMatchObject({
      ok: false,
      reason: "render_error",
      line: source.split("\n").findIndex((l) => l.includes("{{")) + 1,
    });
    expect(!result.ok && result.message).toMatch(message);
  });
});

describe("a realistic OpenTelemetry Collector template", () => {
  const source = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:{{default (label "grpc_port") "4317"}}
      http:
        endpoint: 0.0.0.0:4318
processors:
  batch:
    send_batch_size: {{default (label "batch_size") 8192}}
    timeout: 5s
  resource:
    attributes:
      - key: deployment.environment
        value: {{label "env" "unknown"}}
        action: upsert
      - key: host.name
        value: "{{attr "host.name"}}"
        action: upsert
exporters:
  otlphttp:
    endpoint: {{default (label "otlp_endpoint") "https://otlp.example.com"}}
    headers: { Authorization: "Bearer {{secret "otlp_token"}}" }
{{#if (eq (label "debug") "true")}}
  debug:
    verbosity: detailed
{{/if}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch, resource]
      exporters: [otlphttp{{#if (eq (label "debug") "true")}}, debug{{/if}}]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlphttp]
`;

  it("is valid for a sample agent", () => {
    expect(validateTemplate(source)).toEqual([]);
  });

  it("renders to the expected collector configuration", async () => {
    const secrets = new FakeSecrets({ otlp_token: "tok/with+special=chars" });
    const ctx = context({ env: "prod", debug: "true" }, { "host.name": "web-1: primary" });
    const result = await render(source, ctx, secrets);
    if (!result.ok) throw new Error(result.message);
    expect(parse(result.yaml)).toEqual({
      receivers: {
        otlp: { protocols: { grpc: { endpoint: "0.0.0.0:4317" }, http: { endpoint: "0.0.0.0:4318" } } },
      },
      processors: {
        batch: { send_batch_size: 8192, timeout: "5s" },
        resource: {
          attributes: [
            { key: "deployment.environment", value: "prod", action: "upsert" },
            { key: "host.name", value: "web-1: primary", action: "upsert" },
          ],
        },
      },
      exporters: {
        otlphttp: {
          endpoint: "https://otlp.example.com",
          headers: { Authorization: "Bearer tok/with+special=chars" },
        },
        debug: { verbosity: "detailed" },
      },
      service: {
        pipelines: {
          traces: {
            receivers: ["otlp"],
            processors: ["batch", "resource"],
            exporters: ["otlphttp", "debug"],
          },
          metrics: { receivers: ["otlp"], processors: ["batch"], exporters: ["otlphttp"] },
        },
      },
    });
    expect(result.secretNames).toEqual(["otlp_token"]);
    expect(result.secretValues).toEqual(["tok/with+special=chars"]);
  });

  it("uses the agent's labels where it has them", async () => {
    const secrets = new FakeSecrets({ otlp_token: "t" });
    const ctx = context({
      otlp_endpoint: "https://eu.otlp.example.com",
      grpc_port: "14317",
      batch_size: "512",
    });
    const config = (await renderObject(source, ctx, secrets)) as {
      receivers: { otlp: { protocols: { grpc: { endpoint: string } } } };
      processors: { batch: { send_batch_size: number } };
      exporters: Record<string, { endpoint?: string }>;
    };
    expect(config.receivers.otlp.protocols.grpc.endpoint).toBe("0.0.0.0:14317");
    expect(config.processors.batch.send_batch_size).toBe(512);
    expect(config.exporters.otlphttp?.endpoint).toBe("https://eu.otlp.example.com");
    expect(Object.keys(config.exporters)).toEqual(["otlphttp"]);
  });
});

describe("validateTemplate with labels the sample agent lacks", () => {
  it("accepts a label completing an unquoted scalar (host:port)", () => {
    expect(validateTemplate('exporters:\n  otlp:\n    endpoint: 127.0.0.1:{{label "otlp_port"}}\n')).toEqual(
      [],
    );
  });
});

describe("fixed-structure templates", () => {
  it("stay valid YAML with the same keys for every agent, hostile values included", async () => {
    const tpl = compileTemplate(
      'receivers:\n  otlp: {}\nprocessors:\n  resource:\n    attributes:\n      - key: host\n        value: {{attr "host.name"}}\n      - key: note\n        value: "{{attr "note" "none"}}"\n',
    );
    const hostile = [
      "plain",
      "a: b",
      "x\ny: 1",
      "# c",
      '"q"',
      "{a: 1}",
      "- item",
      "",
      "  lead",
      "tab\there",
      "k:\n  v",
    ];
    for (const [i, value] of hostile.entries()) {
      const result = await renderConfig(
        tpl,
        {
          agent: { instanceUid: `u${i}`, labels: {}, attributes: { "host.name": value, note: value } },
          tenant: { id: "t", name: "t" },
        },
        { resolve: async () => "" },
      );
      if (!result.ok) throw new Error(result.message);
      const parsed = parse(result.yaml);
      expect(Object.keys(parsed)).toEqual(["receivers", "processors"]);
      expect(parsed.processors.resource.attributes[0].value).toBe(value === "" ? "" : value);
      expect(parsed.processors.resource.attributes[1].value).toBe(value);
    }
  });
});
