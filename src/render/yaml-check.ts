/** The output check: a rendered config must be one YAML document whose top level is a mapping. */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { failureResult, type RenderFailureResult } from "./failure.js";

/** Aliases expanded while checking; more is treated as an alias bomb ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;

/** The yaml package's message without its " at line L, column C:" suffix and source excerpt. */
function yamlMessage(message: string): string {
  // The excerpt would quote rendered text, which can hold secret values.
  const first = message.split("\n")[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, "");
}

/**
 * Null when `text` is a valid YAML mapping; otherwise an "invalid_yaml" or "not_a_mapping" failure
 * positioned (1-based) in `text`. Duplicate keys are errors (uniqueKeys). `subject` names the text
 * in messages.
 */
export function checkYamlMapping(text: string, subject: string): RenderFailureResult | null {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, strict: true, prettyErrors: true, lineCounter });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    return failureResult(
      "invalid_yaml",
      `${subject} is not valid YAML: ${yamlMessage(error.message)}`,
      pos?.line,
      pos?.col,
    );
  }
  const root = doc.contents;
  if (!isMap(root)) {
    const what =
      root === null
        ? "an empty document"
        : isSeq(root)
          ? "a sequence"
          : isScalar(root)
            ? "a scalar"
            : "not a mapping";
    const pos = lineCounter.linePos(root?.range?.[0] ?? 0);
    return failureResult(
      "not_a_mapping",
      `${subject} must be a YAML mapping at the top level, got ${what}`,
      pos.line,
      pos.col,
    );
  }
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    return failureResult(
      "invalid_yaml",
      `${subject} is not valid YAML: ${yamlMessage(err instanceof Error ? err.message : String(err))}`,
    );
  }
  return null;
}
