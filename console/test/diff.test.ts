import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { diffStats, lineDiff } from "../src/lib/diff";

describe("template revision diff", () => {
  it("shows a changed line as removed then added, with line numbers on each side", () => {
    const rows = lineDiff("a\nport: 4317\nc\n", "a\nport: 4417\nc\n");
    expect(rows).toEqual([
      { kind: "same", text: "a", left: 1, right: 1 },
      { kind: "removed", text: "port: 4317", left: 2 },
      { kind: "added", text: "port: 4417", right: 2 },
      { kind: "same", text: "c", left: 3, right: 3 },
    ]);
    expect(diffStats(rows)).toEqual({ added: 1, removed: 1 });
  });

  it("shows identical revisions without a change", () => {
    expect(diffStats(lineDiff("x\ny", "x\ny"))).toEqual({ added: 0, removed: 0 });
  });

  const lines = fc.array(fc.constantFrom("a", "b", "c", "receivers:", "  otlp: {}", ""), { maxLength: 30 });
  test.prop([lines, lines])("rebuilds both sides and keeps a longest common part", (left, right) => {
    const before = left.join("\n");
    const after = right.join("\n");
    const rows = lineDiff(before, after);
    const oldSide = rows.filter((r) => r.kind !== "added").map((r) => r.text);
    const newSide = rows.filter((r) => r.kind !== "removed").map((r) => r.text);
    expect(oldSide.join("\n")).toBe(before.endsWith("\n") ? before.slice(0, -1) : before);
    expect(newSide.join("\n")).toBe(after.endsWith("\n") ? after.slice(0, -1) : after);
    // Nothing kept is also reported changed: same + removed = old lines, same + added = new lines.
    const same = rows.filter((r) => r.kind === "same").length;
    const { added, removed } = diffStats(rows);
    expect(same + removed).toBe(oldSide.length);
    expect(same + added).toBe(newSide.length);
  });
});
