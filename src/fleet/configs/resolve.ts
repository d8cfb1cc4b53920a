/**
 * Which assignments an agent gets, and why. Pure: no I/O. For each agent the matching base
 * assignment with the highest priority wins; a tie at the top is a conflict, surfaced on the
 * agent and the assignments, never settled by an arbitrary pick. Every matching overlay applies
 * on top of the winning base, in ascending priority (docs/layers.md).
 */
import { matchesSelector, type Selector } from "../selector.js";

export interface AssignmentCandidate {
  id: string;
  name: string;
  priority: number;
  selector: Selector;
  matchReportedAttributes: boolean;
  /** "base" (one wins) or "overlay" (every matching one is merged over the base). */
  layer: "base" | "overlay";
}

export interface Resolution<A extends AssignmentCandidate> {
  /** The winning assignment, when exactly one matches at the highest priority. */
  winner: A | undefined;
  /** Assignments tied at the highest priority (two or more), when there is a conflict. */
  conflict: A[];
  /** Every matching assignment, highest priority first (for the explain view). */
  matching: A[];
  /** Matching overlays in merge order: ascending priority, then name. */
  overlays: A[];
}

/**
 * Resolves the assignments for one agent. Selectors see server-assigned labels only, unless an
 * assignment opts in to agent-reported attributes; even then, labels win over attributes with the
 * same key, so an agent cannot override what the server assigned.
 */
export function resolveAssignment<A extends AssignmentCandidate>(
  assignments: readonly A[],
  labels: Readonly<Record<string, string>>,
  reportedAttributes: Readonly<Record<string, string>>,
): Resolution<A> {
  const withAttributes = { ...reportedAttributes, ...labels };
  const matching = assignments
    .filter((a) => matchesSelector(a.selector, a.matchReportedAttributes ? withAttributes : labels))
    .sort((x, y) => y.priority - x.priority || x.name.localeCompare(y.name));
  const overlays = matching
    .filter((a) => a.layer === "overlay")
    .sort((x, y) => x.priority - y.priority || x.name.localeCompare(y.name));
  const bases = matching.filter((a) => a.layer !== "overlay");
  const top = bases[0];
  if (!top) return { winner: undefined, conflict: [], matching, overlays };
  const tied = bases.filter((a) => a.priority === top.priority);
  return tied.length > 1
    ? { winner: undefined, conflict: tied, matching, overlays }
    : { winner: top, conflict: [], matching, overlays };
}
