import { createHash } from "node:crypto";
import { type CompiledTemplate, compileTemplate } from "./compile.js";

/**
 * Compiled templates by revision id, least recently used evicted first. Revisions are immutable,
 * so an id always names the same source; a digest of the source is kept anyway so that a reused
 * id with different content recompiles instead of rendering the wrong template.
 */
export class TemplateCache {
  readonly #entries = new Map<string, { digest: string; template: CompiledTemplate }>();
  readonly #maxEntries: number;

  constructor(maxEntries = 500) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    }
    this.#maxEntries = maxEntries;
  }

  /** The compiled template of revision `revisionId`; compiles on a miss (throws TemplateCompileError). */
  get(revisionId: string, source: string): CompiledTemplate {
    const digest = createHash("sha256").update(source).digest("hex");
    const hit = this.#entries.get(revisionId);
    // A Map iterates in insertion order: re-inserting on every hit keeps the oldest use first.
    this.#entries.delete(revisionId);
    if (hit && hit.digest === digest) {
      this.#entries.set(revisionId, hit);
      return hit.template;
    }
    const template = compileTemplate(source);
    this.#entries.set(revisionId, { digest, template });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
    return template;
  }

  /** Number of cached templates. */
  get size(): number {
    return this.#entries.size;
  }
}
