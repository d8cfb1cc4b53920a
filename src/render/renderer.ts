/**
 * renderConfig(): a compiled template + one agent + the tenant's secrets → OpenTelemetry Collector
 * YAML, or a failure with its reason. validateTemplate(): the check a revision must pass at creation.
 */
import { createHash } from "node:crypto";
import {
  advance,
  type CompiledProgram,
  type CompiledTemplate,
  compileProgram,
  ESCAPE_HELPER,
  handlebars,
  programOf,
  TemplateCompileError,
  type TemplateIssue,
  VALUE_HELPERS,
} from "./compile.js";
import { failureResult, RenderFailure, type RenderFailureResult } from "./failure.js";
import { createHelpers, type HelperState } from "./helpers.js";
import { maskSecretValues } from "./secret-mask.js";
import { SecretNotFoundError, type SecretResolver, SecretUnavailableError } from "./secrets.js";
import { undefinedVariables } from "./variables.js";
import { checkYamlMapping } from "./yaml-check.js";

/** The value helpers, for the undefined-variable check (a call is not a variable). */
const TEMPLATE_HELPERS: ReadonlySet<string> = new Set(Object.keys(VALUE_HELPERS));

export {
  type CompiledTemplate,
  compileTemplate,
  MAX_TEMPLATE_BYTES,
  TemplateCompileError,
  type TemplateIssue,
} from "./compile.js";
export type { RenderFailureReason } from "./failure.js";
export { TemplateCache } from "./template-cache.js";

/** What a template can see: `agent` and `tenant`. */
export interface RenderContext {
  agent: {
    instanceUid: string;
    /** Server-assigned labels (enrollment token, admin edits). */
    labels: Record<string, string>;
    /** Agent-reported description attributes, identifying and non-identifying merged. */
    attributes: Record<string, string>;
  };
  tenant: { id: string; name: string };
}

/**
 * A rendered config, or why there is none. On success `secretValues[i]` is the plaintext of
 * `secretNames[i]`, for callers to mask output with: never log it. On failure nothing rendered is
 * returned; line/column (1-based) point into the template, except for "invalid_yaml" and
 * "not_a_mapping", where they point into the rendered output.
 */
export type RenderResult =
  | { ok: true; yaml: string; secretNames: string[]; secretValues: string[] }
  | RenderFailureResult;

/** Largest rendered config accepted, in UTF-16 code units. */
export const MAX_OUTPUT_LENGTH = 4 * 1024 * 1024;
/**
 * Render passes before giving up. Pass 1 learns which secrets are used; later passes are only
 * needed when a secret's value decides which other secrets are used (`{{#if (eq (secret "a") …)}}`).
 */
const MAX_SECRET_PASSES = 4;
/** Written for a secret whose value is not known yet; such a pass's output is always discarded. */
const SECRET_PLACEHOLDER = "secret-placeholder";
/** Redaction leaves shorter values alone: they are not credentials, and would garble messages. */
const MIN_REDACTED_LENGTH = 4;

const SAMPLE_CONTEXT: RenderContext = {
  agent: { instanceUid: "00000000-0000-0000-0000-000000000000", labels: {}, attributes: {} },
  tenant: { id: "xs_sample_00000000", name: "sample" },
};
const SAMPLE_SECRET = "sample-secret";

/**
 * Renders `tpl` for one agent. Secrets are resolved through `secrets` (in parallel, each name
 * once) between a first pass that learns the names and a final pass that uses the values. The
 * same template, context and secret values always give byte-identical output.
 */
export async function renderConfig(
  tpl: CompiledTemplate,
  ctx: RenderContext,
  secrets: SecretResolver,
): Promise<RenderResult> {
  const program = programOf(tpl);
  const view = templateView(ctx);
  const resolved = new Map<string, string>();
  const failed = new Map<string, SecretFailure>();
  for (let pass = 1; ; pass++) {
    const used = new Set<string>();
    const pending = new Set<string>();
    const outcome = runTemplate(program, view, false, (name) => {
      used.add(name);
      const value = resolved.get(name);
      if (value !== undefined) return value;
      if (!failed.has(name)) pending.add(name);
      return SECRET_PLACEHOLDER;
    });
    if (pending.size > 0) {
      // This pass wrote placeholders: whatever it produced, or failed with, is discarded.
      if (pass >= MAX_SECRET_PASSES) {
        return failureResult(
          "render_error",
          "secrets decide which other secrets are used too many levels deep",
        );
      }
      await resolveSecrets(ctx.tenant.id, [...pending].sort(), secrets, resolved, failed);
      continue;
    }
    const secretNames = [...used].sort();
    // Only a secret the final pass uses can fail the render: an earlier pass, still writing
    // placeholders, may have taken a branch the real values do not take.
    const secretProblem = secretFailure(secretNames, failed);
    if (secretProblem) return secretProblem;
    const known = [...resolved.values()];
    if (!outcome.ok) return redacted(outcome.failure, known);
    const problem = structurallyChecked.has(program) ? null : checkOutput(outcome.text);
    if (problem) return redacted(problem, known);
    if (program.fixedStructure) structurallyChecked.add(program);
    return {
      ok: true,
      yaml: outcome.text,
      secretNames,
      secretValues: secretNames.map((name) => resolved.get(name) ?? ""),
    };
  }
}

/**
 * Outputs already checked, by SHA-256: agents with the same labels get the same config, and a
 * fan-out to thousands of them should parse it once, not once per agent (parsing is most of the
 * cost of a render). Bounded; oldest entries go first.
 */
const checkedOutputs = new Set<string>();
/** Fixed-structure programs whose output was checked once: every later output is valid too. */
const structurallyChecked = new WeakSet<CompiledProgram>();
const MAX_CHECKED_OUTPUTS = 5000;

function checkOutput(text: string): RenderFailureResult | null {
  const key = createHash("sha256").update(text).digest("base64");
  if (checkedOutputs.has(key)) return null;
  const problem = checkYamlMapping(text, "rendered config");
  if (!problem) {
    if (checkedOutputs.size >= MAX_CHECKED_OUTPUTS) {
      const oldest = checkedOutputs.values().next().value;
      if (oldest !== undefined) checkedOutputs.delete(oldest);
    }
    checkedOutputs.add(key);
  }
  return problem;
}

/**
 * The validation a revision must pass at creation: the template compiles, and rendered for a
 * sample agent (no labels or attributes; every secret a placeholder) it is a YAML mapping.
 * A label or attribute an agent may have is not an error here; a path no agent can have
 * (`{{nosuch}}`, `{{tenant.nosuch}}`) is (variables.ts): it would fail every delivery. Returns [] when valid;
 * positions are 1-based in the template (YAML errors are mapped back from the sample output).
 */
export function validateTemplate(source: string): TemplateIssue[] {
  let program: CompiledProgram;
  try {
    program = compileProgram(source, { strict: false, markers: insertMarkers });
  } catch (err) {
    if (err instanceof TemplateCompileError) return err.issues;
    throw err;
  }
  const undefinedPaths = undefinedVariables(source, TEMPLATE_HELPERS);
  if (undefinedPaths.length > 0) return undefinedPaths;
  const outcome = runTemplate(program, templateView(SAMPLE_CONTEXT), true, () => SAMPLE_SECRET);
  if (!outcome.ok) return [issueOf(outcome.failure)];
  const { text, marks } = stripMarkers(outcome.text);
  const problem = checkYamlMapping(text, "template output (for a sample agent)");
  if (!problem) return [];
  const mapped =
    problem.line !== undefined ? toTemplatePosition(text, marks, problem.line, problem.column ?? 1) : {};
  return [{ message: problem.message, ...mapped }];
}

function issueOf(failure: RenderFailureResult): TemplateIssue {
  return {
    message: failure.message,
    ...(failure.line !== undefined ? { line: failure.line } : {}),
    ...(failure.column !== undefined ? { column: failure.column } : {}),
  };
}

// ---- The context templates see ----

interface TemplateView {
  readonly root: object;
  readonly labels: Readonly<Record<string, string>>;
  readonly attributes: Readonly<Record<string, string>>;
}

/**
 * Null-prototype objects, so `{{agent.constructor}}` or `{{__proto__}}` find nothing (a missing
 * variable) instead of Object.prototype members. Handlebars' strict-mode error message
 * concatenates the object, which a null-prototype object cannot do without Symbol.toPrimitive.
 */
function opaque<T extends object>(fields: T): T {
  const obj = Object.assign(Object.create(null) as T, fields);
  Object.defineProperty(obj, Symbol.toPrimitive, { value: () => "[object]", enumerable: false });
  return obj;
}

/** Keys sorted so `#each` order depends on the set of keys, never on insertion order. */
function sortedRecord(entries: Readonly<Record<string, string>>): Record<string, string> {
  const sorted = opaque({} as Record<string, string>);
  for (const key of Object.keys(entries).sort()) {
    const value = entries[key];
    sorted[key] = typeof value === "string" ? value : String(value);
  }
  return sorted;
}

function templateView(ctx: RenderContext): TemplateView {
  const labels = sortedRecord(ctx.agent.labels);
  const attributes = sortedRecord(ctx.agent.attributes);
  const root = opaque({
    agent: opaque({ instanceUid: ctx.agent.instanceUid, labels, attributes }),
    tenant: opaque({ id: ctx.tenant.id, name: ctx.tenant.name }),
  });
  return { root, labels, attributes };
}

// ---- One pass ----

type PassOutcome = { ok: true; text: string } | { ok: false; failure: RenderFailureResult };

function runTemplate(
  program: CompiledProgram,
  view: TemplateView,
  sample: boolean,
  secret: (name: string) => string,
): PassOutcome {
  const state: HelperState = {
    sites: program.sites,
    labels: view.labels,
    attributes: view.attributes,
    secret,
    sample,
    sampleCounter: 0,
    iterations: 0,
  };
  try {
    const text = program.run(view.root, createHelpers(state, ESCAPE_HELPER));
    if (text.length > MAX_OUTPUT_LENGTH) {
      return {
        ok: false,
        failure: failureResult("render_error", `rendered config exceeds ${MAX_OUTPUT_LENGTH} characters`),
      };
    }
    return { ok: true, text };
  } catch (err) {
    return { ok: false, failure: toFailure(err, program) };
  }
}

function toFailure(err: unknown, program: CompiledProgram): RenderFailureResult {
  if (err instanceof RenderFailure) return err.toResult();
  if (err instanceof handlebars.Exception) {
    const e = err as { message: string; lineNumber?: unknown; column?: unknown };
    const line = typeof e.lineNumber === "number" ? e.lineNumber : undefined;
    const column0 = typeof e.column === "number" ? e.column : undefined;
    const column = column0 === undefined ? undefined : column0 + 1;
    // Handlebars strict mode: `"tier" not defined in [object]`, positioned at the path.
    const missing = /^"(.*)" not defined in /s.exec(e.message);
    if (missing) {
      const path =
        line !== undefined && column0 !== undefined ? program.pathAt.get(`${line}:${column0}`) : undefined;
      return failureResult(
        "missing_variable",
        `variable "${path ?? missing[1]}" is not defined for this agent`,
        line,
        column,
      );
    }
    return failureResult("render_error", e.message.replace(/ - \d+:\d+$/, ""), line, column);
  }
  if (err instanceof RangeError) {
    return failureResult("render_error", "the rendered config is too large or nested too deeply");
  }
  if (err instanceof TypeError) {
    // In strict mode Handlebars checks only the last segment of a path, and only outside helper
    // arguments; a missing middle segment surfaces as "Cannot read properties of undefined".
    const reading = /^Cannot read properties of (?:undefined|null) \(reading '([^']*)'\)/.exec(err.message);
    if (reading) return missingThrough(reading[1] ?? "", program);
    // E.g. `{{agent.instanceUid.length}}`. The engine's own message can quote the value.
    return failureResult("render_error", "the template looks up a field of a value that has no fields");
  }
  throw err;
}

/** A missing variable found only by the segment read from it: named when the template says which. */
function missingThrough(segment: string, program: CompiledProgram): RenderFailureResult {
  const candidates = program.paths.filter((p) => p.parts.indexOf(segment) >= 1);
  const originals = new Set(candidates.map((p) => p.original));
  const only = candidates[0];
  if (originals.size === 1 && only) {
    return failureResult(
      "missing_variable",
      `variable "${only.original}" is not defined for this agent`,
      only.line,
      only.column,
    );
  }
  return failureResult(
    "missing_variable",
    `a variable path through ".${segment}" is not defined for this agent`,
  );
}

// ---- Secrets ----

type SecretFailure = { kind: "missing" } | { kind: "unavailable"; error: SecretUnavailableError };

/** Resolves `names` in parallel into `resolved`, or records why each could not be. */
async function resolveSecrets(
  tenantId: string,
  names: readonly string[],
  resolver: SecretResolver,
  resolved: Map<string, string>,
  failed: Map<string, SecretFailure>,
): Promise<void> {
  const settled = await Promise.allSettled(names.map((name) => resolver.resolve(tenantId, name)));
  settled.forEach((result, i) => {
    const name = names[i] ?? "";
    if (result.status === "fulfilled") {
      if (typeof result.value !== "string")
        throw new TypeError(`secret resolver returned a non-string for "${name}"`);
      resolved.set(name, result.value);
      return;
    }
    const error: unknown = result.reason;
    if (error instanceof SecretNotFoundError) failed.set(name, { kind: "missing" });
    else if (error instanceof SecretUnavailableError) failed.set(name, { kind: "unavailable", error });
    // Anything else is a resolver bug (it must map its failures to the two errors above).
    else throw error;
  });
}

/**
 * The failure to report for the secrets a render uses, chosen deterministically: a missing
 * secret (permanent, needs an admin) before an unavailable one (transient), each the first by name.
 */
function secretFailure(
  used: readonly string[],
  failed: ReadonlyMap<string, SecretFailure>,
): RenderFailureResult | null {
  const missing = used.find((name) => failed.get(name)?.kind === "missing");
  if (missing !== undefined) {
    return { ...failureResult("missing_secret", `secret "${missing}" does not exist`), secretName: missing };
  }
  for (const name of used) {
    const failure = failed.get(name);
    if (failure?.kind !== "unavailable") continue;
    const { error } = failure;
    return {
      ...failureResult("secret_unavailable", `secret "${name}" is unavailable: ${error.message}`),
      secretName: name,
      ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    };
  }
  return null;
}

/**
 * Defence in depth: failure messages are built not to quote values, but one is never allowed to
 * carry a secret's plaintext (raw or in an escaped form) out of the renderer.
 */
function redacted(failure: RenderFailureResult, secretValues: readonly string[]): RenderFailureResult {
  return { ...failure, message: maskSecretValues(failure.message, secretValues, MIN_REDACTED_LENGTH) };
}

// ---- Mapping sample-output positions back to the template ----

// Private-use code points: invisible in practice in templates, easy to strip afterwards.
const MARK_OPEN = "\u{F0000}";
const MARK_CLOSE = "\u{F0001}";
const MARK = /\u{F0000}(\d+):(\d+)\u{F0001}/gu;

interface Mark {
  /** Offset in the output with marks removed. */
  offset: number;
  line: number;
  /** 0-based, as Handlebars positions. */
  column: number;
}

function mark(pos: { line: number; column: number }): string {
  return `${MARK_OPEN}${pos.line}:${pos.column}${MARK_CLOSE}`;
}

/** Literal text with a mark of its template position at its start and after each line break. */
function insertMarkers(node: { value: string; start: { line: number; column: number } }): string {
  let out = mark(node.start);
  let pos = node.start;
  for (const ch of node.value) {
    out += ch;
    pos = advance(pos, ch);
    if (ch === "\n") out += mark(pos);
  }
  return out;
}

function stripMarkers(marked: string): { text: string; marks: Mark[] } {
  const marks: Mark[] = [];
  let removed = 0;
  const text = marked.replace(MARK, (whole: string, line: string, column: string, offset: number) => {
    marks.push({ offset: offset - removed, line: Number(line), column: Number(column) });
    removed += whole.length;
    return "";
  });
  return { text, marks };
}

/** Best effort: the template position of the literal text nearest before an output position. */
function toTemplatePosition(
  text: string,
  marks: readonly Mark[],
  line: number,
  column: number,
): { line: number; column: number } {
  let lineStart = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf("\n", lineStart);
    if (next === -1) break;
    lineStart = next + 1;
  }
  const offset = lineStart + column - 1;
  let best: Mark | undefined;
  for (const m of marks) {
    if (m.offset > offset) break;
    best = m;
  }
  if (!best) return { line, column };
  return { line: best.line, column: best.column + (offset - best.offset) + 1 };
}
