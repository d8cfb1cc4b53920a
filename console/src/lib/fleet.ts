/**
 * The Fleet page's counts, folded from pages of the agent list (the API has no count endpoint;
 * the page walks the list up to a cap and says when it stopped short).
 */
import type { Agent } from "../api";

export interface FleetCounts {
  total: number;
  online: number;
  offline: number;
  attention: number;
  drift: number;
}

export interface LabelCount {
  label: string;
  total: number;
  online: number;
}

export function emptyCounts(): FleetCounts {
  return { total: 0, online: 0, offline: 0, attention: 0, drift: 0 };
}

/** Adds one page of agents to the counts (a new object; the input is not changed). */
export function addAgents(
  counts: FleetCounts,
  byLabel: ReadonlyMap<string, LabelCount>,
  agents: readonly Pick<Agent, "status" | "attention" | "drift" | "labels">[],
): { counts: FleetCounts; byLabel: Map<string, LabelCount> } {
  const next = { ...counts };
  const labels = new Map(byLabel);
  for (const agent of agents) {
    next.total++;
    if (agent.status === "online") next.online++;
    else next.offline++;
    if (agent.attention) next.attention++;
    if (agent.drift) next.drift++;
    for (const [key, value] of Object.entries(agent.labels)) {
      const label = `${key}=${value}`;
      const row = labels.get(label) ?? { label, total: 0, online: 0 };
      labels.set(label, {
        label,
        total: row.total + 1,
        online: row.online + (agent.status === "online" ? 1 : 0),
      });
    }
  }
  return { counts: next, byLabel: labels };
}

/** Label rows, most agents first, then by name. */
export function sortedLabels(byLabel: ReadonlyMap<string, LabelCount>): LabelCount[] {
  return [...byLabel.values()].sort((x, y) => y.total - x.total || x.label.localeCompare(y.label));
}
