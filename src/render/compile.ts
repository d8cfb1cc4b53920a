/**
 * Template compilation: parse with Handlebars, reject everything outside the allow-list, find the
 * YAML context of every interpolation and wrap it in the escaping helper for that context, then
 * compile in an isolated Handlebars environment. One cohesive pipeline (parse → check → place →
 * wrap → compile) over one AST walk; its length is the allow-list's cases, not several jobs.
 */
import Handlebars from "handlebars";
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from "./secrets.js";
import { classifySlots, type SiteContext, type TemplatePiece } from "./yaml-scan.js";

/** A problem in a template source, with its 1-based position when known. */
export interface TemplateIssue {
  message: string;
  line?: number;
  column?: number;
}

/** The template does not compile: syntax errors, helpers outside the allow-list, partials… */
export class TemplateCompileError extends Error {
  override readonly name = "TemplateCompileError";
  constructor(readonly issues: TemplateIssue[]) {
    const first = issues[0];
    const where = first?.line !== undefined ? ` (line ${first.line}, column ${first.column ?? 1})` : "";
    const more = issues.length > 1 ? ` and ${issues.length - 1} more problem(s)` : "";
    super(`template does not compile: ${first?.message ?? "unknown problem"}${where}${more}`);
  }
}

/** A compiled template. Opaque: render it with renderConfig(). */
export interface CompiledTemplate {
  /** Every secret the template can reference (`{{secret "name"}}`), sorted. */
  readonly secretNames: readonly string[];
}

/** Largest template source accepted, in UTF-8 bytes. */
export const MAX_TEMPLATE_BYTES = 256 * 1024;
/** Deepest nesting of blocks and subexpressions accepted. */
const MAX_NESTING = 64;

/** Thrown by the probe that forces Handlebars' lazy compilation (see compileProgram). */
const COMPILED = Symbol("compiled");
/** Runtime options that stop a compiled template the moment it first reads them. */
const STOP_AT_FIRST_READ: RuntimeOptions = new Proxy(
  {},
  {
    get: () => {
      throw COMPILED;
    },
  },
);

/** Name of the internal helper every interpolation is wrapped in; templates may not call it. */
export const ESCAPE_HELPER = "__yaml_escape";

/** Value helpers and how many positional arguments each takes. */
export const VALUE_HELPERS: Readonly<Record<string, readonly [min: number, max: number]>> = {
  secret: [1, 1],
  default: [2, 2],
  json: [1, 1],
  label: [1, 2],
  attr: [1, 2],
  eq: [2, 2],
  ne: [2, 2],
  join: [2, 2],
};
const BLOCK_HELPERS: ReadonlySet<string> = new Set(["if", "unless", "each", "with"]);
// Handlebars built-ins that are deliberately unavailable, plus our own internal helper.
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  "log",
  "lookup",
  "helperMissing",
  "blockHelperMissing",
  ESCAPE_HELPER,
]);

/** One interpolation: its YAML context and 1-based template position. */
export interface Site extends SiteContext {
  line: number;
  column: number;
}

/** A variable path in the template, e.g. `agent.labels.tier`. */
export interface VariablePath {
  original: string;
  parts: readonly string[];
  line: number;
  column: number;
}

/** What the renderer needs from a compiled template. */
export interface CompiledProgram {
  readonly run: (context: unknown, helpers: Readonly<Record<string, unknown>>) => string;
  readonly sites: readonly Site[];
  /** Source text of every variable path, by Handlebars position "line:column0". */
  readonly pathAt: ReadonlyMap<string, string>;
  /** Every variable path, with its 1-based position. */
  readonly paths: readonly VariablePath[];
  readonly secretNames: readonly string[];
  /**
   * True when every agent's output has the same YAML structure: no block helpers (the text is the
   * same for everyone) and no interpolation in a key position. Each interpolation is escaped into
   * a well-formed scalar for its context, so then one valid output proves all of them valid.
   */
  readonly fixedStructure: boolean;
}

/** Block syntax (`{{#…}}`, `{{^…}}`, `{{else}}`), or an interpolation followed by `:` (a key). */
const VARYING_STRUCTURE = /\{\{~?\s*[#^]|\{\{~?\s*else\b|\}\}\}?\s*:(\s|$)/m;

/** The isolated environment: its own helper registry, without `log` and `lookup`. */
export const handlebars = Handlebars.create();
handlebars.unregisterHelper("log");
handlebars.unregisterHelper("lookup");

// Tells the compiler which names are helpers; anything else is a variable, and with
// knownHelpersOnly no call ever falls back to helperMissing/blockHelperMissing.
const KNOWN_HELPERS: Record<string, boolean> = {
  log: false,
  lookup: false,
  helperMissing: false,
  blockHelperMissing: false,
  [ESCAPE_HELPER]: true,
};
for (const name of Object.keys(VALUE_HELPERS)) KNOWN_HELPERS[name] = true;
for (const name of BLOCK_HELPERS) KNOWN_HELPERS[name] = true;

// ---- A typed view of the parts of the Handlebars AST we read and write ----

interface Position {
  line: number;
  column: number;
}
interface Loc {
  start: Position;
  end: Position;
}
interface AstNode {
  type: string;
  loc?: Loc;
}
interface PathNode extends AstNode {
  type: "PathExpression";
  data: boolean;
  depth: number;
  parts: string[];
  original: string;
  /** Read by the Handlebars compiler: a strict lookup that fails on a missing last segment too. */
  strict?: boolean;
}
interface LiteralNode extends AstNode {
  type: "StringLiteral" | "NumberLiteral" | "BooleanLiteral" | "UndefinedLiteral" | "NullLiteral";
  value?: unknown;
  original?: unknown;
}
interface HashNode extends AstNode {
  type: "Hash";
  pairs: { key: string; value: ExprNode; loc?: Loc }[];
}
interface SubExpressionNode extends AstNode {
  type: "SubExpression";
  path: PathNode | LiteralNode;
  params: ExprNode[];
  hash?: HashNode;
}
type ExprNode = PathNode | LiteralNode | SubExpressionNode;
interface CallNode extends AstNode {
  path: PathNode | LiteralNode;
  params: ExprNode[];
  hash?: HashNode;
}
interface MustacheNode extends CallNode {
  type: "MustacheStatement";
  escaped: boolean;
  strip?: unknown;
}
interface BlockNode extends CallNode {
  type: "BlockStatement";
  program?: ProgramNode;
  inverse?: ProgramNode;
}
interface ContentNode extends AstNode {
  type: "ContentStatement";
  value: string;
  original: string;
}
interface ProgramNode extends AstNode {
  type: "Program";
  body: AstNode[];
  blockParams?: string[];
}

// ---- Compilation ----

interface Walk {
  readonly issues: TemplateIssue[];
  readonly pieces: TemplatePiece[];
  readonly mustaches: { body: AstNode[]; index: number; node: MustacheNode }[];
  readonly contents: ContentNode[];
  readonly pathAt: Map<string, string>;
  readonly paths: VariablePath[];
  readonly secretNames: Set<string>;
  tooDeep: boolean;
}

/** How to compile: strict for real renders; lenient with position markers for validation. */
export interface CompileMode {
  strict: boolean;
  /** Rewrites literal text, e.g. to insert output→template position marks (validateTemplate). */
  markers?: (node: { value: string; original: string; start: Position }) => string;
}

const programs = new WeakMap<CompiledTemplate, CompiledProgram>();

/**
 * Compiles a template for rendering (strict: a missing variable fails the render). Throws
 * TemplateCompileError, with 1-based line/column, for syntax errors, helpers outside the
 * allow-list, partials, decorators, literal-only interpolations, unsafe interpolation positions,
 * and sources over MAX_TEMPLATE_BYTES.
 */
export function compileTemplate(source: string): CompiledTemplate {
  const program = compileProgram(source, { strict: true });
  const template: CompiledTemplate = Object.freeze({ secretNames: program.secretNames });
  programs.set(template, program);
  return template;
}

/** The program behind a template returned by compileTemplate(). */
export function programOf(template: CompiledTemplate): CompiledProgram {
  const program = programs.get(template);
  if (!program) throw new TypeError("not a template returned by compileTemplate()");
  return program;
}

/** Parses, checks and compiles `source`; throws TemplateCompileError. */
export function compileProgram(source: string, mode: CompileMode): CompiledProgram {
  const bytes = Buffer.byteLength(source, "utf8");
  if (bytes > MAX_TEMPLATE_BYTES) {
    throw new TemplateCompileError([
      { message: `template is ${bytes} bytes; the limit is ${MAX_TEMPLATE_BYTES} bytes` },
    ]);
  }
  const tooDeepAt = excessiveNesting(source);
  if (tooDeepAt !== null) {
    const { line, column } = advance({ line: 1, column: 0 }, source.slice(0, tooDeepAt));
    throw new TemplateCompileError([{ message: NESTING_MESSAGE, line, column: column + 1 }]);
  }
  const ast = parse(source);
  const walk: Walk = {
    issues: [],
    pieces: [],
    mustaches: [],
    contents: [],
    pathAt: new Map(),
    paths: [],
    secretNames: new Set(),
    tooDeep: false,
  };
  walkProgram(walk, ast, 0);
  if (walk.issues.length > 0) throw new TemplateCompileError(walk.issues);

  const contexts = classifySlots(walk.pieces);
  const sites: Site[] = [];
  walk.mustaches.forEach((entry, i) => {
    const context = contexts[i];
    const pos = positionOf(entry.node);
    if (context === undefined) throw new Error(`internal: no YAML context for interpolation ${i}`);
    if (context.problem !== undefined) walk.issues.push({ message: context.problem, ...pos });
    sites.push({ ...context, line: pos.line ?? 1, column: pos.column ?? 1 });
    entry.body[entry.index] = wrapInEscape(entry.node, i);
  });
  if (walk.issues.length > 0) throw new TemplateCompileError(walk.issues);

  if (mode.markers) {
    for (const node of walk.contents) {
      node.value = mode.markers({ value: node.value, original: node.original, start: contentStart(node) });
    }
  }

  const options = {
    strict: mode.strict,
    knownHelpers: KNOWN_HELPERS,
    knownHelpersOnly: true,
    // YAML is not HTML: escaping is done per YAML context by ESCAPE_HELPER instead.
    noEscape: true,
    data: true,
    // The AST was already whitespace-processed by parse(); compile() parses it again.
    ignoreStandalone: true,
    explicitPartialContext: true,
  };
  let template: HandlebarsTemplateDelegate;
  try {
    template = handlebars.compile(ast, options);
    // compile() is lazy: it compiles on the first call. Call it once with options that stop it as
    // soon as the compiled template reads them, so compiler errors surface here, before any render.
    template(null, STOP_AT_FIRST_READ);
  } catch (err) {
    if (err !== COMPILED) throw new TemplateCompileError([handlebarsIssue(err)]);
  }
  return {
    run: (context, helpers) =>
      template(context, {
        helpers: helpers as Record<string, (...args: unknown[]) => unknown>,
        // Handlebars ≥ 4.6 defaults, restated: templates never reach prototype properties or methods.
        allowProtoPropertiesByDefault: false,
        allowProtoMethodsByDefault: false,
        allowCallsToHelperMissing: false,
      }),
    sites,
    fixedStructure: !VARYING_STRUCTURE.test(source),
    pathAt: walk.pathAt,
    paths: walk.paths,
    secretNames: [...walk.secretNames].sort(),
  };
}

const NESTING_MESSAGE = `blocks and subexpressions are nested more than ${MAX_NESTING} deep`;

/**
 * Offset where the source nests blocks (`{{#…}}`, each `{{else …}}` of a chain) and
 * subexpressions (`(…)` inside a tag) more than MAX_NESTING deep, or null. A lexical
 * over-approximation run before Handlebars' parser, whose time grows much faster than linearly
 * with nesting (thousands of levels fit in 256 KiB and would take minutes).
 */
function excessiveNesting(source: string): number | null {
  const chains: number[] = [];
  let depth = 0;
  let at = source.indexOf("{{");
  while (at !== -1) {
    if (source.startsWith("{{!", at)) {
      const close = source.startsWith("{{!--", at) ? "--}}" : "}}";
      const end = source.indexOf(close, at + 3);
      if (end === -1) return null;
      at = source.indexOf("{{", end + close.length);
      continue;
    }
    let i = at + 2;
    while (source.charAt(i) === "{" || source.charAt(i) === "~") i++;
    const c = source.charAt(i);
    if (c === "#" || (c === "^" && !/^\^\s*~?\}\}/.test(source.slice(i, i + 6)))) {
      chains.push(0);
      depth++;
    } else if (c === "/") {
      depth -= 1 + (chains.pop() ?? 0);
      depth = Math.max(0, depth);
    } else if (/^else\s+[^\s~}]/.test(source.slice(i, i + 64)) && chains.length > 0) {
      chains[chains.length - 1] = (chains.at(-1) ?? 0) + 1;
      depth++;
    }
    if (depth > MAX_NESTING) return at;
    let parens = 0;
    for (; i < source.length && !source.startsWith("}}", i); i++) {
      const ch = source.charAt(i);
      if (ch === '"' || ch === "'") {
        const end = source.indexOf(ch, i + 1);
        if (end === -1) return null;
        i = end;
      } else if (ch === "(") {
        parens++;
        if (depth + parens > MAX_NESTING) return i;
      } else if (ch === ")") {
        parens = Math.max(0, parens - 1);
      }
    }
    at = source.indexOf("{{", i + 2);
  }
  return null;
}

function parse(source: string): ProgramNode {
  try {
    return handlebars.parse(source) as unknown as ProgramNode;
  } catch (err) {
    if (err instanceof RangeError) {
      throw new TemplateCompileError([{ message: "template nesting is too deep" }]);
    }
    if (err instanceof handlebars.Exception) throw new TemplateCompileError([handlebarsIssue(err)]);
    throw new TemplateCompileError([syntaxIssue(err)]);
  }
}

/** A Handlebars Exception (AST-level error with a node position), without its " - l:c" suffix. */
function handlebarsIssue(err: unknown): TemplateIssue {
  if (err instanceof RangeError) return { message: "template nesting is too deep" };
  const e = err as { message?: unknown; lineNumber?: unknown; column?: unknown };
  const message = String(e.message ?? err).replace(/ - \d+:\d+$/, "");
  return {
    message,
    ...(typeof e.lineNumber === "number" ? { line: e.lineNumber } : {}),
    ...(typeof e.column === "number" ? { column: e.column + 1 } : {}),
  };
}

interface LexerState {
  yylloc?: { first_line: number; first_column: number; last_line: number; last_column: number };
}

// Handlebars grammar tokens, as a template author would recognise them.
const TOKEN_NAMES: Readonly<Record<string, string>> = {
  EOF: "end of template",
  CONTENT: "text",
  COMMENT: "a comment",
  OPEN: "{{",
  CLOSE: "}}",
  OPEN_UNESCAPED: "{{{",
  CLOSE_UNESCAPED: "}}}",
  OPEN_BLOCK: "{{#",
  OPEN_ENDBLOCK: "{{/",
  OPEN_INVERSE: "{{^",
  OPEN_INVERSE_CHAIN: "{{else …}}",
  INVERSE: "{{else}}",
  OPEN_PARTIAL: "{{>",
  OPEN_PARTIAL_BLOCK: "{{#>",
  OPEN_RAW_BLOCK: "{{{{",
  CLOSE_RAW_BLOCK: "}}}}",
  OPEN_SEXPR: "(",
  CLOSE_SEXPR: ")",
  OPEN_BLOCK_PARAMS: "as |",
  CLOSE_BLOCK_PARAMS: "|",
  ID: "a name",
  STRING: "a string",
  NUMBER: "a number",
  BOOLEAN: "true/false",
  UNDEFINED: "undefined",
  NULL: "null",
  DATA: "@data",
  SEP: "a path separator",
  EQUALS: "=",
  INVALID: "an unexpected character",
};

function tokenName(token: string): string {
  return TOKEN_NAMES[token] ?? token;
}

/** "Expecting 'ID', 'STRING', got 'CLOSE'" → "unexpected }}; expected a name or a string". */
function describeParseError(message: string): string {
  const match = /Expecting (.*), got '([^']*)'\s*$/.exec(message);
  if (!match) return message.split("\n")[0] ?? message;
  const expected = [
    ...new Set([...(match[1] ?? "").matchAll(/'([^']*)'/g)].map((m) => tokenName(m[1] ?? ""))),
  ];
  const shown = expected.length > 6 ? [...expected.slice(0, 6), "…"] : expected;
  return `unexpected ${tokenName(match[2] ?? "")}; expected ${shown.join(" or ")}`;
}

/**
 * A syntax error from the Handlebars (jison) parser. Its message carries the line but not the
 * column, so the position is read from the shared lexer, which still holds the failing token
 * (parsing is synchronous, so nothing else has used it since).
 */
function syntaxIssue(err: unknown): TemplateIssue {
  const message = err instanceof Error ? err.message : String(err);
  const lexer = (handlebars as unknown as { Parser?: { lexer?: LexerState } }).Parser?.lexer;
  const loc = lexer?.yylloc;
  const lexical = message.startsWith("Lexical error");
  const issue: TemplateIssue = {
    message: `syntax error: ${lexical ? "unrecognized text" : describeParseError(message)}`,
  };
  if (loc) {
    // A lexical error is at the end of the last good token; a parse error at the failing token.
    issue.line = lexical ? loc.last_line : loc.first_line;
    issue.column = (lexical ? loc.last_column : loc.first_column) + 1;
  } else {
    const line = /on line (\d+)/.exec(message)?.[1];
    if (line !== undefined) issue.line = Number(line);
  }
  return issue;
}

function positionOf(node: AstNode): { line?: number; column?: number } {
  return node.loc ? { line: node.loc.start.line, column: node.loc.start.column + 1 } : {};
}

function issue(walk: Walk, node: AstNode, message: string): void {
  walk.issues.push({ message, ...positionOf(node) });
}

/** Reports (once) nesting beyond MAX_NESTING, which Handlebars' recursive compiler would choke on. */
function tooDeep(walk: Walk, node: AstNode, depth: number): boolean {
  if (depth <= MAX_NESTING) return false;
  if (!walk.tooDeep) issue(walk, node, NESTING_MESSAGE);
  walk.tooDeep = true;
  return true;
}

function walkProgram(walk: Walk, program: ProgramNode, depth: number): void {
  if (tooDeep(walk, program, depth)) return;
  program.body.forEach((node, index) => {
    switch (node.type) {
      case "ContentStatement":
        walk.pieces.push({ kind: "text", text: (node as ContentNode).value });
        walk.contents.push(node as ContentNode);
        break;
      case "CommentStatement":
        break;
      case "MustacheStatement":
        checkMustache(walk, node as MustacheNode, depth);
        walk.pieces.push({ kind: "slot" });
        walk.mustaches.push({ body: program.body, index, node: node as MustacheNode });
        break;
      case "BlockStatement": {
        const block = node as BlockNode;
        checkBlock(walk, block, depth);
        walk.pieces.push({ kind: "tag" });
        if (block.program) walkProgram(walk, block.program, depth + 1);
        walk.pieces.push({ kind: "tag" });
        if (block.inverse) walkProgram(walk, block.inverse, depth + 1);
        walk.pieces.push({ kind: "tag" });
        break;
      }
      case "PartialStatement":
      case "PartialBlockStatement":
        issue(walk, node, "partials ({{> name}}) are not allowed");
        break;
      case "Decorator":
      case "DecoratorBlock":
        issue(walk, node, "decorators ({{* name}}) are not allowed");
        break;
      default:
        issue(walk, node, `unsupported template construct ${node.type}`);
    }
  });
}

/** The helper a call names: a single plain identifier (not `this.x`, `../x`, `@x`). */
function helperName(path: PathNode | LiteralNode): string | null {
  if (path.type !== "PathExpression") return null;
  if (path.data || path.depth !== 0 || path.parts.length !== 1) return null;
  if (/^\.|this\b/.test(path.original)) return null;
  return path.parts[0] ?? null;
}

function hasHash(node: CallNode): boolean {
  return (node.hash?.pairs.length ?? 0) > 0;
}

function describe(path: PathNode | LiteralNode): string {
  return path.type === "PathExpression" ? path.original : String(path.original ?? path.value);
}

function unknownHelper(walk: Walk, node: AstNode, name: string): void {
  const allowed = [...Object.keys(VALUE_HELPERS), ...BLOCK_HELPERS].join(", ");
  issue(walk, node, `unknown helper "${name}"; the allowed helpers are ${allowed}`);
}

function checkMustache(walk: Walk, node: MustacheNode, depth: number): void {
  const { path } = node;
  if (path.type !== "PathExpression") {
    issue(walk, node, `{{${describe(path)}}} is a literal, not a variable; write literal text directly`);
    return;
  }
  const name = helperName(path);
  if (name !== null && Object.hasOwn(VALUE_HELPERS, name)) {
    checkHelperCall(walk, node, name, depth);
    return;
  }
  if (name !== null && BLOCK_HELPERS.has(name)) {
    issue(walk, node, `"${name}" is a block helper: write {{#${name} …}}…{{/${name}}}`);
    return;
  }
  if (name !== null && RESERVED_NAMES.has(name)) {
    unknownHelper(walk, node, name);
    return;
  }
  if (node.params.length > 0 || hasHash(node)) {
    unknownHelper(walk, node, path.original);
    return;
  }
  checkExpr(walk, path, depth);
}

function checkHelperCall(walk: Walk, node: CallNode, name: string, depth: number): void {
  const [min, max] = VALUE_HELPERS[name] ?? [0, 0];
  if (hasHash(node)) issue(walk, node, `${name} takes no name=value arguments`);
  const count = node.params.length;
  if (count < min || count > max) {
    const expected = min === max ? `${min}` : `${min} or ${max}`;
    issue(walk, node, `${name} takes ${expected} argument(s), got ${count}`);
  }
  if (name === "secret" && count === 1) {
    const arg = node.params[0];
    // A literal name keeps the set of secrets a template can reach fixed and reviewable: an agent
    // can never steer which secret it receives through the values it reports.
    if (
      arg?.type !== "StringLiteral" ||
      typeof arg.value !== "string" ||
      !SECRET_NAME_PATTERN.test(arg.value)
    ) {
      issue(walk, node, `secret takes a literal secret name: {{secret "name"}} (${SECRET_NAME_RULE})`);
    } else {
      walk.secretNames.add(arg.value);
    }
  }
  for (const param of node.params) checkExpr(walk, param, depth + 1);
}

function checkBlock(walk: Walk, node: BlockNode, depth: number): void {
  const name = helperName(node.path);
  if (name === null || !BLOCK_HELPERS.has(name)) {
    const what = name ?? describe(node.path);
    if (name !== null && Object.hasOwn(VALUE_HELPERS, name)) {
      issue(walk, node, `"${name}" is not a block helper; the block helpers are if, unless, each and with`);
    } else {
      issue(walk, node, `unknown block helper "${what}"; the block helpers are if, unless, each and with`);
    }
    return;
  }
  if (node.params.length !== 1)
    issue(walk, node, `#${name} takes exactly 1 argument, got ${node.params.length}`);
  for (const pair of node.hash?.pairs ?? []) {
    if ((name === "if" || name === "unless") && pair.key === "includeZero") continue;
    issue(walk, node, `#${name} does not take the argument ${pair.key}=`);
  }
  const blockParams = node.program?.blockParams ?? [];
  if (blockParams.length > 0 && (name === "if" || name === "unless")) {
    issue(walk, node, `#${name} does not take block parameters (as |…|)`);
  }
  for (const param of blockParams) {
    // A block parameter shadows a helper of the same name inside the block.
    if (Object.hasOwn(VALUE_HELPERS, param) || BLOCK_HELPERS.has(param) || RESERVED_NAMES.has(param)) {
      issue(walk, node, `block parameter "${param}" has the name of a helper; rename it`);
    }
  }
  for (const param of node.params) checkExpr(walk, param, depth + 1);
}

function checkExpr(walk: Walk, expr: ExprNode, depth: number): void {
  if (tooDeep(walk, expr, depth)) return;
  if (expr.type === "PathExpression") {
    if (expr.loc) {
      const { line, column } = expr.loc.start;
      walk.pathAt.set(`${line}:${column}`, expr.original);
      walk.paths.push({ original: expr.original, parts: expr.parts, line, column: column + 1 });
    }
    return;
  }
  if (expr.type === "SubExpression") {
    const name = helperName(expr.path);
    if (name !== null && Object.hasOwn(VALUE_HELPERS, name)) {
      checkHelperCall(walk, expr, name, depth);
    } else if (name !== null && BLOCK_HELPERS.has(name)) {
      issue(walk, expr, `"${name}" is a block helper and cannot be called as (${name} …)`);
    } else {
      unknownHelper(walk, expr, name ?? describe(expr.path));
    }
  }
}

/**
 * `{{x}}` becomes `{{__yaml_escape x <site>}}` and `{{helper a b}}` becomes
 * `{{__yaml_escape (helper a b) <site>}}`. Triple-stash `{{{x}}}` is wrapped the same way: there
 * is no way to write raw, unescaped text into the YAML.
 */
function wrapInEscape(node: MustacheNode, site: number): MustacheNode {
  const path = node.path as PathNode;
  const name = helperName(path);
  const isCall = name !== null && Object.hasOwn(VALUE_HELPERS, name);
  const value: ExprNode = isCall
    ? {
        type: "SubExpression",
        path,
        params: node.params,
        ...(node.hash ? { hash: node.hash } : {}),
        ...loc(node),
      }
    : // As a helper argument the path would be looked up leniently (a missing last segment is
      // just undefined); marking it strict keeps `{{agent.labels.missing}}` a missing variable.
      { ...path, strict: true };
  return {
    type: "MustacheStatement",
    path: {
      type: "PathExpression",
      data: false,
      depth: 0,
      parts: [ESCAPE_HELPER],
      original: ESCAPE_HELPER,
      ...loc(node),
    },
    params: [value, { type: "NumberLiteral", value: site, original: site, ...loc(node) }],
    escaped: node.escaped,
    strip: node.strip,
    ...loc(node),
  };
}

function loc(node: AstNode): { loc?: Loc } {
  return node.loc ? { loc: node.loc } : {};
}

/**
 * Template position of the first character of a content node's (whitespace-stripped) value:
 * Handlebars' whitespace control only trims the ends of `original`.
 */
function contentStart(node: ContentNode): Position {
  const { value, original } = node;
  let offset = 0;
  while (offset + value.length <= original.length && !original.startsWith(value, offset)) {
    if (!/\s/.test(original.charAt(offset))) break;
    offset++;
  }
  const start = node.loc?.start ?? { line: 1, column: 0 };
  return advance(start, original.slice(0, offset));
}

/** The position after `text` when it starts at `from` (Handlebars positions: column 0-based). */
export function advance(from: Position, text: string): Position {
  let { line, column } = from;
  for (const ch of text) {
    if (ch === "\n") {
      line++;
      column = 0;
    } else {
      column += ch.length;
    }
  }
  return { line, column };
}
