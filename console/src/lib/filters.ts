/**
 * The agent list's filters: kept in the URL hash (so a filtered view can be shared and survives a
 * reload) and turned into the list call's query. Empty values are left out of both.
 */

export type StatusFilter = "" | "online" | "offline" | "drift";

export interface AgentFilters {
  selector: string;
  status: StatusFilter;
  q: string;
}

export const NO_FILTERS: AgentFilters = { selector: "", status: "", q: "" };

const STATUSES: readonly StatusFilter[] = ["", "online", "offline", "drift"];

/** Reads filters from URL search parameters; an unknown status is ignored rather than sent. */
export function filtersFromParams(params: URLSearchParams): AgentFilters {
  const status = params.get("status") ?? "";
  return {
    selector: (params.get("selector") ?? "").trim(),
    status: (STATUSES as readonly string[]).includes(status) ? (status as StatusFilter) : "",
    q: (params.get("q") ?? "").trim(),
  };
}

/** The filters as URL search parameters, without empty ones. */
export function filtersToParams(filters: AgentFilters): URLSearchParams {
  const params = new URLSearchParams();
  if (filters.selector.trim()) params.set("selector", filters.selector.trim());
  if (filters.status) params.set("status", filters.status);
  if (filters.q.trim()) params.set("q", filters.q.trim());
  return params;
}

export interface AgentListQuery {
  selector?: string;
  status?: "online" | "offline";
  drift?: "true" | "false";
  q?: string;
  cursor?: string;
  limit: number;
}

/** The query of `GET /tenants/{t}/agents` for these filters ("drift" is its own parameter). */
export function agentListQuery(
  filters: AgentFilters,
  cursor: string | undefined,
  limit: number,
): AgentListQuery {
  const query: AgentListQuery = { limit };
  if (filters.selector.trim()) query.selector = filters.selector.trim();
  if (filters.status === "online" || filters.status === "offline") query.status = filters.status;
  if (filters.status === "drift") query.drift = "true";
  if (filters.q.trim()) query.q = filters.q.trim();
  if (cursor) query.cursor = cursor;
  return query;
}

/**
 * A quick check before the server's: unbalanced parentheses or an empty key in a comma-separated
 * term. The server's parser remains the judge (its 400 is shown as is); this only saves a trip.
 */
export function selectorProblem(selector: string): string | null {
  let depth = 0;
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) return "a ')' without its '('";
  }
  if (depth !== 0) return "a '(' without its ')'";
  // Split on commas outside parentheses: "env in (a,b)" is one term.
  const terms: string[] = [];
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += ch;
  }
  terms.push(current);
  if (selector.trim() && terms.some((t) => t.trim() === "")) return "an empty term between commas";
  return null;
}
