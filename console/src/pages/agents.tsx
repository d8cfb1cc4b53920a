/** Agents: selector, status and text filters (kept in the URL), cursor pages, refreshed live. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useState } from "react";
import { api, unwrap } from "../api";
import { Badge, ErrorBox, Labels, Loading, Pager, useCursorPages } from "../components/ui";
import {
  type AgentFilters,
  agentListQuery,
  filtersFromParams,
  filtersToParams,
  selectorProblem,
} from "../lib/filters";
import { agentBadge, deliveryBadge, remoteConfigStatusOf, shortUid } from "../lib/status";
import { href, navigate } from "../router";
import { useSession } from "../session";

const PAGE_SIZE = 50;
export const LIVE_REFRESH_MS = 3_000;

export function AgentsPage({ params }: { params: URLSearchParams }) {
  const { tenantId } = useSession();
  const filters = filtersFromParams(params);
  const filterKey = filtersToParams(filters).toString();
  const pages = useCursorPages();
  // A new filter starts again at page 1.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset when the filter text changes
  useEffect(() => pages.reset(), [filterKey]);
  const list = useQuery({
    queryKey: ["agents", tenantId, filterKey, pages.cursor],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/agents", {
          params: { path: { tenantId }, query: agentListQuery(filters, pages.cursor, PAGE_SIZE) },
        }),
      ),
    refetchInterval: LIVE_REFRESH_MS,
    placeholderData: keepPreviousData,
  });
  return (
    <section>
      <h1>Agents</h1>
      <FilterForm initial={filters} />
      <ErrorBox error={list.error} />
      {list.data ? (
        <>
          <table className="agents">
            <thead>
              <tr>
                <th>Agent</th>
                <th>Host</th>
                <th>Labels</th>
                <th>Status</th>
                <th>Runs</th>
                <th>Last delivery</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((agent) => (
                <tr key={agent.instanceUid} data-uid={agent.instanceUid}>
                  <td>
                    <a href={href(["agents", agent.instanceUid])} title={agent.instanceUid}>
                      <code>{shortUid(agent.instanceUid)}</code>
                    </a>
                  </td>
                  <td>{hostOf(agent.description)}</td>
                  <td>
                    <Labels labels={agent.labels} />
                  </td>
                  <td>
                    <Badge badge={agentBadge(agent)} />
                  </td>
                  <td>
                    {agent.runningConfig ? (
                      <span title={agent.runningConfig.configHash}>
                        {agent.runningConfig.template
                          ? `${agent.runningConfig.template}@${agent.runningConfig.version}`
                          : agent.runningConfig.configHash.slice(0, 8)}
                      </span>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td>
                    <LastDelivery agent={agent} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 && <p className="muted">No agent matches.</p>}
          <Pager pages={pages} nextCursor={list.data.nextCursor} />
        </>
      ) : (
        <Loading what="agents" />
      )}
    </section>
  );
}

/** The host name an agent described itself with (host.name, else os/service facts). */
export function hostOf(
  description: { identifying: Record<string, string>; nonIdentifying: Record<string, string> } | null,
): string {
  if (!description) return "—";
  return (
    description.nonIdentifying["host.name"] ??
    description.identifying["host.name"] ??
    description.identifying["service.name"] ??
    "—"
  );
}

/** What the agent last reported about the config it was sent (its RemoteConfigStatus). */
function LastDelivery({ agent }: { agent: { remoteConfigStatus?: unknown } }) {
  const reported = remoteConfigStatusOf(agent.remoteConfigStatus);
  if (!reported || reported.status === "UNSET") return <span className="muted">—</span>;
  const badge = deliveryBadge(reported.status.toLowerCase());
  return <Badge badge={reported.errorMessage ? { ...badge, title: reported.errorMessage } : badge} />;
}

function FilterForm({ initial }: { initial: AgentFilters }) {
  const [draft, setDraft] = useState(initial);
  const problem = selectorProblem(draft.selector);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!problem) navigate(href(["agents"], filtersToParams(draft)));
  };
  return (
    <form className="filters" onSubmit={submit}>
      <label>
        Selector
        <input
          value={draft.selector}
          placeholder="env=prod,region in (eu,us)"
          onChange={(e) => setDraft({ ...draft, selector: e.target.value })}
        />
      </label>
      <label>
        Status
        <select
          value={draft.status}
          onChange={(e) => setDraft({ ...draft, status: e.target.value as AgentFilters["status"] })}
        >
          <option value="">any</option>
          <option value="online">online</option>
          <option value="offline">offline</option>
          <option value="drift">drift</option>
        </select>
      </label>
      <label>
        Text
        <input
          value={draft.q}
          placeholder="uid, host, label"
          onChange={(e) => setDraft({ ...draft, q: e.target.value })}
        />
      </label>
      <button type="submit" disabled={problem !== null}>
        Filter
      </button>
      {problem && <span className="error-inline">Selector: {problem}</span>}
    </form>
  );
}
