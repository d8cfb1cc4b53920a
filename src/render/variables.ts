/**
 * Undefined variables, found before a revision is stored: the paths a template reads are
 * resolved against the shape of what every render sees (RenderContext: `agent.instanceUid`,
 * `agent.labels.<key>`, `agent.attributes.<key>`, `tenant.id`, `tenant.name`), following the
 * context changes of `#with` and `#each`, block parameters, `../` and `@root`. A path no agent can
 * ever have (`{{nosuch}}`, `{{tenant.nosuch}}`) would fail every delivery, so it is refused here;
 * a label or attribute key is per agent and always allowed. As in the renderer, a helper argument
 * may name a missing last segment (`{{default tenant.x "y"}}` renders "y").
 */
import Handlebars from "handlebars";
import type { TemplateIssue } from "./compile.js";

type Shape =
  | { kind: "object"; fields: Readonly<Record<string, Shape>> }
  | { kind: "map" }
  | { kind: "text" }
  | { kind: "unknown" };

const TEXT: Shape = { kind: "text" };
const MAP: Shape = { kind: "map" };
const UNKNOWN: Shape = { kind: "unknown" };
const object = (fields: Record<string, Shape>): Shape => ({ kind: "object", fields });

/** The shape of the render context (renderer.ts `templateView`): keep the two in step. */
export const CONTEXT_SHAPE: Shape = object({
  agent: object({ instanceUid: TEXT, labels: MAP, attributes: MAP }),
  tenant: object({ id: TEXT, name: TEXT }),
});

const KNOWN =
  "a template sees agent.instanceUid, agent.labels.<key>, agent.attributes.<key>, tenant.id and tenant.name";

interface Node {
  type: string;
  loc?: { start: { line: number; column: number } };
}
interface Path extends Node {
  type: "PathExpression";
  data: boolean;
  depth: number;
  parts: string[];
  original: string;
}
interface Call extends Node {
  path: Node;
  params: Node[];
  hash?: { pairs: { value: Node }[] };
}
interface Block extends Call {
  program?: Program;
  inverse?: Program;
}
interface Program extends Node {
  body: Node[];
  blockParams?: string[];
}

interface Scope {
  shape: Shape;
  params: ReadonlyMap<string, Shape>;
}

const handlebars = Handlebars.create();
const BLOCK_HELPERS = new Set(["if", "unless", "each", "with"]);

/** Issues for every path no render context can satisfy; [] when there are none. */
export function undefinedVariables(source: string, helpers: ReadonlySet<string>): TemplateIssue[] {
  const ast = handlebars.parse(source) as unknown as Program;
  const issues: TemplateIssue[] = [];
  const seen = new Set<string>();

  const report = (path: Path, missing: string) => {
    const at = path.loc ? { line: path.loc.start.line, column: path.loc.start.column + 1 } : {};
    const key = `${path.original}@${at.line}:${at.column}`;
    if (seen.has(key)) return;
    seen.add(key);
    issues.push({ message: `undefined variable "${path.original}": ${missing}; ${KNOWN}`, ...at });
  };

  /** Resolves `path` in `scopes` (innermost last); reports and returns UNKNOWN when undefined. */
  const resolve = (path: Path, scopes: readonly Scope[], lenientLast: boolean): Shape => {
    let shape: Shape;
    let parts = path.parts;
    /** What the walk has resolved so far, as written (for the message). */
    let resolved: string[] = [];
    if (path.data) {
      if (parts[0] !== "root") return UNKNOWN; // @key, @index, @first, @last
      shape = CONTEXT_SHAPE;
      resolved = ["@root"];
      parts = parts.slice(1);
    } else {
      const scope = scopes[scopes.length - 1 - path.depth];
      if (!scope) return UNKNOWN;
      const first = parts[0];
      const explicitThis = /^(this\b|\.)/.test(path.original);
      const param =
        !explicitThis && path.depth === 0 && first !== undefined ? blockParam(scopes, first) : undefined;
      if (param) {
        shape = param;
        resolved = [first ?? ""];
        parts = parts.slice(1);
      } else {
        shape = scope.shape;
      }
    }
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] ?? "";
      const last = i === parts.length - 1;
      if (shape.kind === "unknown") return UNKNOWN;
      if (shape.kind === "map") {
        shape = TEXT;
        continue;
      }
      if (shape.kind === "object" && Object.hasOwn(shape.fields, part)) {
        shape = shape.fields[part] ?? UNKNOWN;
        continue;
      }
      if (last && lenientLast && shape.kind === "object") return UNKNOWN;
      const where = [...resolved, ...parts.slice(0, i)].join(".") || "the context here";
      report(
        path,
        shape.kind === "text" ? `${where} is text, it has no "${part}"` : `${where} has no "${part}"`,
      );
      return UNKNOWN;
    }
    return shape;
  };

  const blockParam = (scopes: readonly Scope[], name: string): Shape | undefined => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const found = scopes[i]?.params.get(name);
      if (found) return found;
    }
    return undefined;
  };

  const helperOf = (node: Node): string | null => {
    if (node.type !== "PathExpression") return null;
    const p = node as Path;
    return !p.data && p.depth === 0 && p.parts.length === 1 && !/^(this\b|\.)/.test(p.original)
      ? (p.parts[0] ?? null)
      : null;
  };

  const expr = (node: Node, scopes: readonly Scope[], asArgument: boolean): Shape => {
    if (node.type === "PathExpression") return resolve(node as Path, scopes, asArgument);
    if (node.type === "SubExpression") call(node as Call, scopes);
    return UNKNOWN;
  };

  const call = (node: Call, scopes: readonly Scope[]) => {
    for (const param of node.params) expr(param, scopes, true);
    for (const pair of node.hash?.pairs ?? []) expr(pair.value, scopes, true);
  };

  const walk = (program: Program | undefined, scopes: readonly Scope[]) => {
    for (const node of program?.body ?? []) {
      if (node.type === "MustacheStatement") {
        const m = node as Call;
        const name = helperOf(m.path);
        if (name !== null && helpers.has(name) && !blockParam(scopes, name)) call(m, scopes);
        else expr(m.path, scopes, false);
      } else if (node.type === "BlockStatement") {
        const b = node as Block;
        const name = helperOf(b.path);
        const arg = b.params[0];
        const argShape = arg ? expr(arg, scopes, true) : UNKNOWN;
        for (const pair of b.hash?.pairs ?? []) expr(pair.value, scopes, true);
        const declared = b.program?.blockParams ?? [];
        let inner: Scope;
        if (name === "with") {
          inner = { shape: argShape, params: new Map(declared[0] ? [[declared[0], argShape]] : []) };
        } else if (name === "each") {
          const item = argShape.kind === "map" ? TEXT : UNKNOWN;
          const params = new Map<string, Shape>();
          if (declared[0]) params.set(declared[0], item);
          if (declared[1]) params.set(declared[1], argShape.kind === "map" ? TEXT : UNKNOWN);
          inner = { shape: item, params };
        } else if (name !== null && BLOCK_HELPERS.has(name)) {
          walk(b.program, scopes);
          walk(b.inverse, scopes);
          continue;
        } else {
          continue;
        }
        walk(b.program, [...scopes, inner]);
        walk(b.inverse, scopes);
      }
    }
  };

  walk(ast, [{ shape: CONTEXT_SHAPE, params: new Map() }]);
  return issues;
}
