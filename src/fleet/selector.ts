/**
 * Kubernetes label-selector language: `env=prod,region in (eu,us),!canary,tier!=web,team`.
 * Requirements are ANDed. Operators: `=`/`==`, `!=`, `in (…)`, `notin (…)`, `key` (exists),
 * `!key` (does not exist). As in Kubernetes, `!=` and `notin` also match agents without the key.
 * Errors carry the 1-based column of the offending character, for 422 answers.
 */
import { UnprocessableError } from "../errors.js";
import { labelKeyProblem, labelValueProblem } from "./labels.js";

export type Requirement =
  | { key: string; op: "eq" | "neq"; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "notexists" };

export interface Selector {
  /** The selector as written, trimmed; "" selects everything. */
  source: string;
  requirements: Requirement[];
}

export class SelectorSyntaxError extends Error {
  override readonly name = "SelectorSyntaxError";
  constructor(
    message: string,
    /** 1-based column in the selector text. */
    readonly column: number,
  ) {
    super(`${message} at column ${column}`);
  }
}

const MAX_SELECTOR_LENGTH = 4096;

type Token =
  | { kind: "word"; text: string; at: number }
  | { kind: "op"; text: "=" | "==" | "!=" | "!" | "," | "(" | ")"; at: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text.charAt(i);
    if (ch === " " || ch === "\t") {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === "==" || two === "!=") {
      tokens.push({ kind: "op", text: two, at: i });
      i += 2;
      continue;
    }
    if (ch === "=" || ch === "!" || ch === "," || ch === "(" || ch === ")") {
      tokens.push({ kind: "op", text: ch, at: i });
      i++;
      continue;
    }
    if (/[A-Za-z0-9._/-]/.test(ch)) {
      const start = i;
      while (i < text.length && /[A-Za-z0-9._/-]/.test(text.charAt(i))) i++;
      tokens.push({ kind: "word", text: text.slice(start, i), at: start });
      continue;
    }
    throw new SelectorSyntaxError(`unexpected character ${JSON.stringify(ch)}`, i + 1);
  }
  return tokens;
}

/** Parses a selector from a request; 422 naming `path` and the column on a syntax error. */
export function parseSelectorInput(input: string, path = "selector"): Selector {
  try {
    return parseSelector(input);
  } catch (err) {
    if (err instanceof SelectorSyntaxError) {
      throw new UnprocessableError("invalid label selector", [
        { path, message: err.message, column: err.column },
      ]);
    }
    throw err;
  }
}

/** Parses a selector; throws SelectorSyntaxError with a column on any mistake. */
export function parseSelector(input: string): Selector {
  if (input.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorSyntaxError(
      `selector longer than ${MAX_SELECTOR_LENGTH} characters`,
      MAX_SELECTOR_LENGTH + 1,
    );
  }
  const source = input.trim();
  const tokens = tokenize(input);
  const requirements: Requirement[] = [];
  let pos = 0;
  const end = input.length + 1;
  const peek = (): Token | undefined => tokens[pos];
  const columnOf = (t: Token | undefined): number => (t ? t.at + 1 : end);

  const word = (what: string): Token & { kind: "word" } => {
    const t = tokens[pos];
    if (t?.kind !== "word") throw new SelectorSyntaxError(`expected ${what}`, columnOf(t));
    pos++;
    return t;
  };
  const key = (): string => {
    const t = word("a label key");
    const problem = labelKeyProblem(t.text);
    if (problem)
      throw new SelectorSyntaxError(`invalid label key ${JSON.stringify(t.text)}: ${problem}`, t.at + 1);
    return t.text;
  };
  const value = (): string => {
    const t = tokens[pos];
    // An empty value is allowed (`env=`), as in Kubernetes.
    if (t?.kind !== "word") return "";
    pos++;
    const problem = labelValueProblem(t.text);
    if (problem) throw new SelectorSyntaxError(`invalid label ${problem}`, t.at + 1);
    return t.text;
  };
  const valueSet = (): string[] => {
    const open = tokens[pos];
    if (open?.kind !== "op" || open.text !== "(") throw new SelectorSyntaxError("expected (", columnOf(open));
    pos++;
    const values: string[] = [];
    for (;;) {
      const t = tokens[pos];
      if (t?.kind === "op" && t.text === ")") {
        pos++;
        break;
      }
      if (values.length > 0) {
        if (!(t?.kind === "op" && t.text === ","))
          throw new SelectorSyntaxError("expected , or )", columnOf(t));
        pos++;
      }
      values.push(value());
    }
    if (values.length === 0) throw new SelectorSyntaxError("empty value set", columnOf(open));
    return values;
  };

  if (tokens.length === 0) return { source, requirements };
  for (;;) {
    const t = peek();
    if (t?.kind === "op" && t.text === "!") {
      pos++;
      requirements.push({ key: key(), op: "notexists" });
    } else {
      const k = key();
      const next = peek();
      if (next === undefined || (next.kind === "op" && next.text === ",")) {
        requirements.push({ key: k, op: "exists" });
      } else if (next.kind === "op" && (next.text === "=" || next.text === "==" || next.text === "!=")) {
        pos++;
        requirements.push({ key: k, op: next.text === "!=" ? "neq" : "eq", value: value() });
      } else if (next.kind === "word" && (next.text === "in" || next.text === "notin")) {
        pos++;
        requirements.push({ key: k, op: next.text, values: valueSet() });
      } else {
        throw new SelectorSyntaxError("expected =, ==, !=, in, notin or ,", columnOf(next));
      }
    }
    const sep = peek();
    if (sep === undefined) break;
    if (!(sep.kind === "op" && sep.text === ",")) throw new SelectorSyntaxError("expected ,", columnOf(sep));
    pos++;
    if (peek() === undefined) throw new SelectorSyntaxError("expected a requirement after ,", end);
  }
  return { source, requirements };
}

/** True when `labels` satisfy every requirement of `selector`. */
export function matchesSelector(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case "exists":
        return has;
      case "notexists":
        return !has;
      case "eq":
        return has && v === r.value;
      case "neq":
        return !has || v !== r.value;
      case "in":
        return has && r.values.includes(v ?? "");
      case "notin":
        return !has || !r.values.includes(v ?? "");
    }
    return false;
  });
}

/** Canonical text of a parsed selector (stable order of values as written). */
export function formatSelector(selector: Selector): string {
  return selector.requirements
    .map((r) => {
      switch (r.op) {
        case "exists":
          return r.key;
        case "notexists":
          return `!${r.key}`;
        case "eq":
          return `${r.key}=${r.value}`;
        case "neq":
          return `${r.key}!=${r.value}`;
        case "in":
        case "notin":
          return `${r.key} ${r.op} (${r.values.join(",")})`;
      }
      return "";
    })
    .join(",");
}
