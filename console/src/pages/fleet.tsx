/**
 * Fleet: online / offline / attention / drift counts, failed deliveries, and agents by label.
 * The counts walk the agent list page by page (the API has no count call) up to FLEET_CAP agents.
 */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api";
import { ErrorBox, Loading } from "../components/ui";
import { addAgents, emptyCounts, type LabelCount, sortedLabels } from "../lib/fleet";
import { href } from "../router";
import { useSession } from "../session";

const FLEET_CAP = 5_000;
const PAGE = 500;

export function FleetPage() {
  const { tenantId } = useSession();
  const fleet = useQuery({
    queryKey: ["fleet", tenantId],
    refetchInterval: 30_000,
    queryFn: async () => {
      let state = { counts: emptyCounts(), byLabel: new Map<string, LabelCount>() };
      let cursor: string | undefined;
      do {
        const page = unwrap(
          await api.GET("/api/v1/tenants/{tenantId}/agents", {
            params: { path: { tenantId }, query: { limit: PAGE, ...(cursor ? { cursor } : {}) } },
          }),
        );
        state = addAgents(state.counts, state.byLabel, page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && state.counts.total < FLEET_CAP);
      return { ...state, partial: cursor !== undefined };
    },
  });
  const deliveries = useQuery({
    queryKey: ["rollup", tenantId],
    refetchInterval: 30_000,
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/deliveries/rollup", {
          params: { path: { tenantId }, query: { by: "revision" } },
        }),
      ),
  });
  const failed = deliveries.data?.items.reduce((sum, row) => sum + row.counts.failed, 0);
  return (
    <section>
      <h1>Fleet</h1>
      <ErrorBox error={fleet.error ?? deliveries.error} />
      {fleet.data ? (
        <>
          <div className="tiles">
            <Tile title="Agents" value={fleet.data.counts.total} to={href(["agents"])} />
            <Tile
              title="Online"
              value={fleet.data.counts.online}
              to={href(["agents"], new URLSearchParams({ status: "online" }))}
            />
            <Tile
              title="Offline"
              value={fleet.data.counts.offline}
              to={href(["agents"], new URLSearchParams({ status: "offline" }))}
            />
            <Tile title="Attention" value={fleet.data.counts.attention} />
            <Tile
              title="Drift"
              value={fleet.data.counts.drift}
              to={href(["agents"], new URLSearchParams({ status: "drift" }))}
            />
            <Tile title="Failed deliveries" value={failed ?? "…"} />
          </div>
          {fleet.data.partial && <p className="muted">Counted the first {FLEET_CAP} agents only.</p>}
          <h2>By label</h2>
          <table>
            <thead>
              <tr>
                <th>Label</th>
                <th>Agents</th>
                <th>Online</th>
              </tr>
            </thead>
            <tbody>
              {sortedLabels(fleet.data.byLabel)
                .slice(0, 50)
                .map((row) => (
                  <tr key={row.label}>
                    <td>
                      <a href={href(["agents"], new URLSearchParams({ selector: row.label }))}>
                        <code>{row.label}</code>
                      </a>
                    </td>
                    <td>{row.total}</td>
                    <td>{row.online}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      ) : (
        <Loading what="the fleet" />
      )}
    </section>
  );
}

function Tile({ title, value, to }: { title: string; value: number | string; to?: string }) {
  const body = (
    <>
      <span className="tile-value">{value}</span>
      <span className="tile-title">{title}</span>
    </>
  );
  return to ? (
    <a className="tile" href={to} data-tile={title}>
      {body}
    </a>
  ) : (
    <div className="tile" data-tile={title}>
      {body}
    </div>
  );
}
