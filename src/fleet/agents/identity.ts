/**
 * Which agent a connection is, beyond its instance uid: the rule of duplicate detection (OpAMP
 * spec, "Duplicate instance_uid Detection"). Cloned hosts that share the supervisor's persistent
 * state present one uid; what still tells them apart is what they report about themselves.
 *
 * The identity of an agent is its identifying attributes plus its host attributes (the
 * non-identifying `host.*` ones: `host.name`, `host.id`, `host.arch`…). The supervisor puts the
 * uid itself in `service.instance.id`, so clones agree on that; `host.name` is what differs.
 * Everything else non-identifying (`os.description`, versions after an upgrade) may change
 * between two runs of the same agent and does not count.
 */
import type { AgentDescriptionReport } from "./types.js";

const HOST_ATTRIBUTE = /^host\./;

/** The identity of a description as one canonical text (sorted keys), or undefined without one. */
export function identityOf(description: AgentDescriptionReport | null | undefined): string | undefined {
  if (!description) return undefined;
  const host = Object.entries(description.nonIdentifying ?? {}).filter(([k]) => HOST_ATTRIBUTE.test(k));
  const sorted = (entries: [string, string][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([sorted(Object.entries(description.identifying ?? {})), sorted(host)]);
}

/**
 * Whether a connection reporting `reported` is another agent than the one whose stored
 * description is `stored`. Unknown (either side without a description) is not different: only
 * a positive difference makes a duplicate, so a reconnect that leaves its description out is
 * never split off.
 */
export function isOtherAgent(
  reported: AgentDescriptionReport | undefined,
  stored: AgentDescriptionReport | null | undefined,
): boolean {
  const a = identityOf(reported);
  const b = identityOf(stored);
  return a !== undefined && b !== undefined && a !== b;
}
