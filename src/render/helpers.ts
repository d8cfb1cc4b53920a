/**
 * The allow-listed template helpers, created per render so that each closes over that render's
 * agent, secrets and budgets. Handlebars calls every helper with its positional arguments and then
 * an options object.
 */
import { handlebars, type Site } from "./compile.js";
import { RenderFailure } from "./failure.js";
import {
  escapeBlock,
  escapeComment,
  escapeDoubleQuoted,
  escapeEmbedded,
  escapePlain,
  escapeSingleQuoted,
  isPlainSafe,
  YamlEscapeError,
  yamlSafeJson,
} from "./yaml-escape.js";

/** Most `each` iterations one render may run (nested loops over labels multiply quickly). */
export const MAX_EACH_ITERATIONS = 10_000;

/** What the helpers of one render need. */
export interface HelperState {
  readonly sites: readonly Site[];
  /** Server-assigned labels and agent-reported attributes (null-prototype, key-sorted). */
  readonly labels: Readonly<Record<string, string>>;
  readonly attributes: Readonly<Record<string, string>>;
  /** Returns the value `{{secret name}}` writes in this pass (a placeholder until resolved). */
  readonly secret: (name: string) => string;
  /** Validation against a sample agent: empty plain values get unique placeholders. */
  readonly sample: boolean;
  sampleCounter: number;
  iterations: number;
}

interface HelperOptions {
  fn?: (context: unknown, options?: unknown) => string;
  loc?: { start: { line: number; column: number } };
}

type Helper = (this: unknown, ...args: unknown[]) => unknown;

const SafeString = handlebars.SafeString;
const builtinEach = handlebars.helpers.each as Helper | undefined;

/** Splits Handlebars' trailing options argument from the positional ones. */
function split(args: unknown[]): { params: unknown[]; options: HelperOptions } {
  const options = (args.at(-1) ?? {}) as HelperOptions;
  return { params: args.slice(0, -1), options };
}

function failAt(options: HelperOptions, message: string): RenderFailure {
  const start = options.loc?.start;
  return new RenderFailure(
    "render_error",
    message,
    start?.line,
    start === undefined ? undefined : start.column + 1,
  );
}

function unwrap(value: unknown): unknown {
  return value instanceof SafeString ? value.toString() : value;
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || value === "";
}

function isPrimitive(value: unknown): value is string | number | boolean | bigint {
  const t = typeof value;
  return t === "string" || t === "number" || t === "boolean" || t === "bigint";
}

/** eq/ne: primitives compare by their text ("4317" eq 4317, "true" eq true); null eq undefined. */
function equal(a: unknown, b: unknown): boolean {
  const x = unwrap(a);
  const y = unwrap(b);
  if (isPrimitive(x) && isPrimitive(y)) return String(x) === String(y);
  if (x === undefined || x === null || y === undefined || y === null) {
    return (x === undefined || x === null) && (y === undefined || y === null);
  }
  return x === y;
}

function ownValue(map: Readonly<Record<string, string>>, key: unknown): string | undefined {
  if (typeof key !== "string") return undefined;
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** Text of a value interpolated into the YAML; maps and lists must go through `json`. */
function toText(value: unknown, site: Site): string {
  if (value === undefined || value === null) return "";
  if (isPrimitive(value)) return String(value);
  throw new RenderFailure(
    "render_error",
    "a map or list cannot be interpolated as text; use {{json …}} to write it as a YAML flow value",
    site.line,
    site.column,
  );
}

/** Writes one interpolated value for its site (see yaml-escape.ts for the rules). */
function writeValue(value: unknown, site: Site, state: HelperState): string {
  if (value instanceof SafeString) {
    const json = value.toString();
    // JSON text is a complete flow node where a whole plain scalar stands. Elsewhere (in quotes,
    // block scalars, comments, mid-scalar) it is just a string and is escaped like one.
    if (site.kind === "plain" || (site.kind === "embedded" && isPlainSafe(json))) return json;
    return writeText(json, site);
  }
  let text = toText(value, site);
  if (state.sample && text === "" && (site.kind === "plain" || site.kind === "embedded")) {
    // The sample agent has no labels: distinct placeholders keep `{{label "a"}}: 1` and
    // `{{label "b"}}: 2` from colliding as duplicate "" keys during validation, and keep
    // `host:{{label "port"}}` from ending in a bare colon that a real agent's value would fill.
    state.sampleCounter++;
    text = `sample-${state.sampleCounter}`;
  }
  return writeText(text, site);
}

function writeText(text: string, site: Site): string {
  try {
    switch (site.kind) {
      case "plain":
        return escapePlain(text);
      case "embedded":
        return escapeEmbedded(text);
      case "double":
        return escapeDoubleQuoted(text);
      case "single":
        return escapeSingleQuoted(text);
      case "block":
        return escapeBlock(text, site.indent, site.autoIndent);
      case "comment":
        return escapeComment(text);
    }
  } catch (err) {
    if (err instanceof YamlEscapeError)
      throw new RenderFailure("render_error", err.message, site.line, site.column);
    throw err;
  }
}

/** The helpers of one render, by name (ESCAPE_HELPER included). */
export function createHelpers(state: HelperState, escapeHelperName: string): Record<string, Helper> {
  const helpers: Record<string, Helper> = {
    [escapeHelperName]: (...args) => {
      const { params } = split(args);
      const site = state.sites[Number(params[1])];
      if (site === undefined) throw new Error("internal: unknown interpolation site");
      return writeValue(params[0], site, state);
    },

    secret: (...args) => {
      const { params, options } = split(args);
      const name = params[0];
      if (typeof name !== "string") throw failAt(options, "secret takes a secret name");
      return state.secret(name);
    },

    default: (...args) => {
      const { params } = split(args);
      return isBlank(params[0]) ? params[1] : params[0];
    },

    json: (...args) => {
      const { params, options } = split(args);
      try {
        return new SafeString(yamlSafeJson(unwrap(params[0])));
      } catch {
        throw failAt(options, "json cannot write this value");
      }
    },

    label: (...args) => {
      const { params } = split(args);
      return ownValue(state.labels, params[0]) ?? params[1] ?? "";
    },

    attr: (...args) => {
      const { params } = split(args);
      return ownValue(state.attributes, params[0]) ?? params[1] ?? "";
    },

    eq: (...args) => {
      const { params } = split(args);
      return equal(params[0], params[1]);
    },

    ne: (...args) => {
      const { params } = split(args);
      return !equal(params[0], params[1]);
    },

    join: (...args) => {
      const { params, options } = split(args);
      const [list, separator] = params.map(unwrap);
      if (!isPrimitive(separator)) throw failAt(options, "join takes a text separator");
      if (list === undefined || list === null) return "";
      if (isPrimitive(list)) return String(list);
      // A map joins its values in key order (label and attribute maps are key-sorted).
      const items: unknown[] = Array.isArray(list) ? list : Object.values(list as object);
      return items
        .map((item) => {
          const v = unwrap(item);
          if (v === undefined || v === null) return "";
          if (!isPrimitive(v)) throw failAt(options, "join can only join text values");
          return String(v);
        })
        .join(String(separator));
    },
  };

  if (builtinEach) {
    const each = builtinEach;
    helpers.each = function (this: unknown, ...args: unknown[]) {
      const { params, options } = split(args);
      const fn = options.fn;
      if (!fn) return each.apply(this, args);
      const counted = (context: unknown, opts?: unknown) => {
        state.iterations++;
        if (state.iterations > MAX_EACH_ITERATIONS) {
          throw failAt(options, `the template runs more than ${MAX_EACH_ITERATIONS} #each iterations`);
        }
        return fn(context, opts);
      };
      return each.apply(this, [...params, { ...options, fn: counted }]);
    };
  }
  return helpers;
}
