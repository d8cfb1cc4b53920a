/**
 * Finds the YAML context of every interpolation in a template, at compile time, so that each one
 * can be escaped for where it stands (see yaml-escape.ts). The template is read as YAML with
 * holes: literal text is lexed the way a YAML reader would (quotes, comments, flow collections,
 * block scalars and their indentation), and each hole is classified by what surrounds it.
 *
 * This is a lexer, not a parser: it reads the template's text in source order, treating block
 * tags (`{{#if}}`, `{{else}}`, `{{/each}}`) as zero-width. Every branch and loop body is read once,
 * in order, which is right for templates whose branches are whole lines or whole scalars.
 */

/** Where an interpolation stands in the YAML text of the template. */
export type SiteKind =
  /** A whole plain scalar: `key: {{v}}`, `- {{v}}`, `{{k}}: v`, `[{{a}}, {{b}}]`. */
  | "plain"
  /** Part of a longer unquoted scalar: `url: https://{{host}}:4317`. */
  | "embedded"
  /** Inside "…". */
  | "double"
  /** Inside '…'. */
  | "single"
  /** A content line of a `|` or `>` block scalar. */
  | "block"
  /** After `#`. */
  | "comment";

export interface SiteContext {
  kind: SiteKind;
  /** Leading spaces of the template line (block scalars re-indent value lines to it). */
  indent: string;
  /** The value is the first content of a block scalar whose indentation YAML will infer from it. */
  autoIndent: boolean;
  /** Set when the interpolation can never be written safely; compilation fails with it. */
  problem?: string;
}

/** The template in source order: literal text, an interpolation, or a zero-width block tag. */
export type TemplatePiece = { kind: "text"; text: string } | { kind: "slot" } | { kind: "tag" };

// A slot is read as one ordinary scalar character; its position is looked up, never its value.
const SLOT_CHAR = "x";

/** Classifies each slot of `pieces`, in order of appearance. */
export function classifySlots(pieces: readonly TemplatePiece[]): SiteContext[] {
  let text = "";
  const slotAt = new Map<number, number>();
  for (const piece of pieces) {
    if (piece.kind === "text") {
      text += piece.text;
    } else if (piece.kind === "slot") {
      slotAt.set(text.length, slotAt.size);
      text += SLOT_CHAR;
    }
  }
  const scanner = new YamlScanner(text, slotAt);
  scanner.run();
  return scanner.sites;
}

/** escapeRemaining right after a backslash, before the escape's kind is known. */
const AFTER_BACKSLASH = -1;

interface BlockScalar {
  /** Column of the node owning the scalar (its key, or its `-`); content is indented more. */
  parentIndent: number;
  /** Indentation of the content; null until the first non-empty content line fixes it. */
  contentIndent: number | null;
}

class YamlScanner {
  readonly sites: SiteContext[] = [];

  // State that spans lines.
  private quote: '"' | "'" | null = null;
  /** Characters still belonging to a `\` escape inside double quotes (`\x41`, `\u0041`…). */
  private escapeRemaining = 0;
  private flowDepth = 0;
  private block: BlockScalar | null = null;

  // State of the current line.
  private col = 0;
  private indent = 0;
  private atLineStart = true;
  private blockLine = false;
  private comment = false;
  /** Inside a plain scalar, or just after some other complete node, on this line. */
  private plain = false;
  /** Just after a closing quote or a closing flow bracket. */
  private afterNode = false;
  private prevSpace = true;
  private nodeStart: number | null = null;
  private keyColumn: number | null = null;
  private dashColumn: number | null = null;
  private header: { parentIndent: number; explicit: number | null } | null = null;
  /** This line is the first content line of a block scalar whose indentation YAML infers. */
  private autoIndentPending = false;

  constructor(
    private readonly text: string,
    private readonly slotAt: ReadonlyMap<number, number>,
  ) {}

  run(): void {
    const { text } = this;
    for (let i = 0; i < text.length; i++) {
      const c = text.charAt(i);
      const slot = this.slotAt.get(i);
      if (slot === undefined && (c === "\n" || c === "\r")) {
        if (c === "\r" && text.charAt(i + 1) === "\n" && !this.slotAt.has(i + 1)) i++;
        this.endLine();
        continue;
      }
      const extra = this.step(i, c, slot);
      i += extra;
      this.col += 1 + extra;
    }
  }

  private record(slot: number, kind: SiteKind, autoIndent = false, problem?: string): void {
    this.sites[slot] = {
      kind,
      indent: " ".repeat(this.indent),
      autoIndent,
      ...(problem !== undefined ? { problem } : {}),
    };
  }

  private isSlot(i: number): boolean {
    return this.slotAt.has(i);
  }

  /** True at a separator: end of text, space, tab or line break (never a slot). */
  private isSep(i: number): boolean {
    if (i >= this.text.length) return true;
    if (this.isSlot(i)) return false;
    const c = this.text.charAt(i);
    return c === " " || c === "\t" || c === "\n" || c === "\r";
  }

  /** Returns how many characters after `i` it consumed as well. */
  private step(i: number, c: string, slot: number | undefined): number {
    if (this.blockLine) {
      if (slot !== undefined) this.record(slot, "block");
      return 0;
    }
    if (this.atLineStart) {
      if (this.quote !== null) {
        this.atLineStart = false;
      } else if (c === " " && slot === undefined) {
        this.indent++;
        return 0;
      } else {
        this.atLineStart = false;
        if (this.enterBlockLine()) {
          // An interpolation opening the first content line of a block scalar without an
          // indentation indicator decides that indentation (see escapeBlock).
          if (slot !== undefined) this.record(slot, "block", this.autoIndentPending);
          return 0;
        }
      }
    }
    const wasSpace = this.prevSpace;
    this.prevSpace = slot === undefined && (c === " " || c === "\t");

    if (this.quote === '"') return this.inDoubleQuotes(c, slot);
    if (this.quote === "'") return this.inSingleQuotes(i, c, slot);
    if (this.comment) {
      if (slot !== undefined) this.record(slot, "comment");
      return 0;
    }
    if (slot !== undefined) {
      const standalone = !this.plain && !this.afterNode && this.endsScalar(i + 1);
      if (!this.plain && !this.afterNode) this.startNode();
      this.record(slot, standalone ? "plain" : "embedded");
      this.plain = true;
      this.afterNode = false;
      return 0;
    }
    if (this.prevSpace) return 0;
    if (c === "#" && wasSpace) {
      this.comment = true;
      return 0;
    }
    if (this.plain) {
      if (c === ":" && (this.isSep(i + 1) || (this.flowDepth > 0 && this.isFlowEnd(i + 1)))) {
        this.plain = false;
        this.keyColumn = this.nodeStart;
      } else if (this.flowDepth > 0 && "[]{},".includes(c)) {
        this.plain = false;
        this.flowIndicator(c);
      }
      return 0;
    }
    if (this.afterNode) {
      this.afterNode = false;
      if (c === ":") {
        this.keyColumn = this.nodeStart;
        return 0;
      }
      if (this.flowDepth > 0 && "[]{},".includes(c)) {
        this.flowIndicator(c);
        return 0;
      }
      // Text straight after a quoted scalar is a YAML error; read it as plain text.
      this.plain = true;
      return 0;
    }
    return this.nodeStartChar(i, c);
  }

  /** Decides whether the line now starting belongs to the open block scalar. */
  private enterBlockLine(): boolean {
    this.autoIndentPending = false;
    if (this.block === null) return false;
    const { contentIndent, parentIndent } = this.block;
    if (contentIndent === null ? this.indent > parentIndent : this.indent >= contentIndent) {
      if (contentIndent === null) {
        this.block.contentIndent = this.indent;
        this.autoIndentPending = true;
      }
      this.blockLine = true;
      return true;
    }
    this.block = null;
    return false;
  }

  private inDoubleQuotes(c: string, slot: number | undefined): number {
    if (slot !== undefined) {
      // `"\{{v}}"`: the template's backslash would escape the value's first character.
      const problem =
        this.escapeRemaining !== 0
          ? "an interpolation cannot be part of a backslash escape inside a double-quoted scalar"
          : undefined;
      this.record(slot, "double", false, problem);
      this.escapeRemaining = 0;
      return 0;
    }
    if (this.escapeRemaining === AFTER_BACKSLASH) {
      // \x, \u and \U take 2, 4 and 8 hex digits after them.
      this.escapeRemaining = c === "x" ? 2 : c === "u" ? 4 : c === "U" ? 8 : 0;
      return 0;
    }
    if (this.escapeRemaining > 0) {
      this.escapeRemaining--;
      return 0;
    }
    if (c === "\\") {
      this.escapeRemaining = AFTER_BACKSLASH;
    } else if (c === '"') {
      this.quote = null;
      this.afterNode = true;
    }
    return 0;
  }

  private inSingleQuotes(i: number, c: string, slot: number | undefined): number {
    if (slot !== undefined) {
      this.record(slot, "single");
      return 0;
    }
    if (c === "'") {
      if (this.text.charAt(i + 1) === "'" && !this.isSlot(i + 1)) return 1;
      this.quote = null;
      this.afterNode = true;
    }
    return 0;
  }

  /** A character where a new node may start (line start, after an indicator, a tag or an anchor). */
  private nodeStartChar(i: number, c: string): number {
    const { text } = this;
    if ((c === "-" || c === ".") && this.col === 0 && text.startsWith(c.repeat(3), i) && this.isSep(i + 3)) {
      // Document marker (`---`, `...`) — only at column 0.
      return 2;
    }
    switch (c) {
      case '"':
      case "'":
        this.startNode();
        this.quote = c;
        this.escapeRemaining = 0;
        return 0;
      case "-":
      case "?":
      case ":":
        if (this.isSep(i + 1)) {
          if (c === "-") this.dashColumn = this.col;
          return 0;
        }
        break;
      case "[":
      case "{":
        this.flowDepth++;
        return 0;
      case "]":
      case "}":
        if (this.flowDepth > 0) {
          this.flowIndicator(c);
          return 0;
        }
        break;
      case ",":
        if (this.flowDepth > 0) return 0;
        break;
      case "|":
      case ">":
        if (this.flowDepth === 0) return this.blockHeader(i);
        break;
      case "&":
      case "!": {
        // Anchor or tag: the node itself starts after it.
        let j = i + 1;
        while (j < text.length && !this.isSep(j) && !this.isSlot(j)) j++;
        return j - i - 1;
      }
      case "%":
        if (this.col === 0) {
          this.comment = true;
          return 0;
        }
        break;
    }
    this.startNode();
    this.plain = true;
    return 0;
  }

  private startNode(): void {
    if (this.flowDepth === 0) this.nodeStart = this.col;
  }

  private isFlowEnd(i: number): boolean {
    if (i >= this.text.length || this.isSlot(i)) return false;
    return ",]}".includes(this.text.charAt(i));
  }

  private flowIndicator(c: string): void {
    if (c === "[" || c === "{") {
      this.flowDepth++;
    } else if (c === "]" || c === "}") {
      this.flowDepth = Math.max(0, this.flowDepth - 1);
      // A closed collection is a complete node: `[a]: b` makes it a key; text after it is an error.
      this.afterNode = true;
    }
  }

  /** True when a plain scalar starting at a slot would end right after it (at `i`). */
  private endsScalar(i: number): boolean {
    const { text } = this;
    let j = i;
    while (j < text.length && !this.isSlot(j) && (text.charAt(j) === " " || text.charAt(j) === "\t")) j++;
    if (j >= text.length) return true;
    if (this.isSlot(j)) return false;
    const c = text.charAt(j);
    if (c === "\n" || c === "\r") return true;
    if (c === "#") return j > i;
    if (c === ":") return this.isSep(j + 1) || (this.flowDepth > 0 && this.isFlowEnd(j + 1));
    return this.flowDepth > 0 && ",]}".includes(c);
  }

  /** `|` or `>` where a node starts: a block scalar header if the rest of the line allows it. */
  private blockHeader(i: number): number {
    const { text } = this;
    let j = i + 1;
    let explicit: number | null = null;
    for (let n = 0; n < 2 && j < text.length && !this.isSlot(j); n++) {
      const c = text.charAt(j);
      if (explicit === null && c >= "1" && c <= "9") explicit = Number(c);
      else if (c !== "+" && c !== "-") break;
      j++;
    }
    let k = j;
    while (k < text.length && !this.isSlot(k) && (text.charAt(k) === " " || text.charAt(k) === "\t")) k++;
    const atEnd =
      k >= text.length || (!this.isSlot(k) && (text.charAt(k) === "\n" || text.charAt(k) === "\r"));
    const atComment = !this.isSlot(k) && text.charAt(k) === "#" && k > j;
    if (!atEnd && !atComment) {
      this.startNode();
      this.plain = true;
      return 0;
    }
    // Content must be indented more than the node owning the scalar: its key, else its `-`. With
    // neither on this line, the header's own column is a stricter bound than YAML's (fewer lines
    // are taken as block content), which only errs towards the safer plain/quoted escaping.
    const parentIndent = this.keyColumn ?? this.dashColumn ?? this.col;
    this.header = { parentIndent, explicit };
    return j - i - 1;
  }

  private endLine(): void {
    // `\` before a line break inside double quotes escapes the break, not the next line's text.
    if (this.escapeRemaining === AFTER_BACKSLASH) this.escapeRemaining = 0;
    if (this.quote === null && !this.blockLine && this.header !== null) {
      const { parentIndent, explicit } = this.header;
      this.block = { parentIndent, contentIndent: explicit === null ? null : parentIndent + explicit };
    }
    this.col = 0;
    this.indent = 0;
    this.atLineStart = true;
    this.blockLine = false;
    this.comment = false;
    this.plain = false;
    this.afterNode = false;
    this.prevSpace = true;
    this.nodeStart = null;
    this.keyColumn = null;
    this.dashColumn = null;
    this.header = null;
  }
}
