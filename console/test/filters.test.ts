import { describe, expect, it } from "vitest";
import { agentListQuery, filtersFromParams, filtersToParams, selectorProblem } from "../src/lib/filters";
import { labelsPatch, parseLabels } from "../src/lib/labels";

describe("agent list filters", () => {
  it("round-trips through the URL without empty values", () => {
    const filters = { selector: "env=prod, region in (eu,us)", status: "online" as const, q: "" };
    const params = filtersToParams(filters);
    expect(params.toString()).toBe("selector=env%3Dprod%2C+region+in+%28eu%2Cus%29&status=online");
    expect(filtersFromParams(params)).toEqual(filters);
  });

  it("ignores an unknown status from a hand-edited URL rather than sending it", () => {
    expect(filtersFromParams(new URLSearchParams("status=sideways")).status).toBe("");
  });

  it("turns the drift status into the list's drift parameter", () => {
    expect(agentListQuery({ selector: "", status: "drift", q: "" }, undefined, 50)).toEqual({
      limit: 50,
      drift: "true",
    });
    expect(agentListQuery({ selector: " env=prod ", status: "offline", q: "host" }, "c1", 20)).toEqual({
      limit: 20,
      selector: "env=prod",
      status: "offline",
      q: "host",
      cursor: "c1",
    });
  });

  it("catches unbalanced parentheses and empty terms before asking the server", () => {
    expect(selectorProblem("env in (a,b")).toBe("a '(' without its ')'");
    expect(selectorProblem("env=a)")).toBe("a ')' without its '('");
    expect(selectorProblem("env=a,,tier=b")).toBe("an empty term between commas");
    expect(selectorProblem("env in (a,b),tier!=edge")).toBeNull();
    expect(selectorProblem("")).toBeNull();
  });
});

describe("label editing", () => {
  it("parses key=value terms and names what is wrong", () => {
    expect(parseLabels("env=prod, tier = edge")).toEqual({ env: "prod", tier: "edge" });
    expect(parseLabels("env")).toBe('"env" is not key=value');
    expect(parseLabels("a=1,a=2")).toBe('label "a" given twice');
  });

  it("sends a merge patch: changed and new keys set, removed keys null, unchanged left out", () => {
    expect(
      labelsPatch({ env: "prod", tier: "edge", keep: "x" }, { env: "staging", keep: "x", new: "y" }),
    ).toEqual({
      tier: null,
      env: "staging",
      new: "y",
    });
  });
});
