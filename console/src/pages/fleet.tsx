/**
 * Fleet: online / offline / attention / drift counts, failed deliveries, and agents by label,
 * from the server's fleet summary (counted over every agent in one statement).
 */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api";
import { ErrorBox, Loading } from "../components/ui";
import { href } from "../router";
import { useSession } from "../session";

export function FleetPage() {
  const { tenantId } = useSession();
  const fleet = useQuery({
    queryKey: ["fleet", tenantId],
    refetchInterval: 10_000,
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/tenants/{tenantId}/fleet", { params: { path: { tenantId } } })),
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
            <Tile title="Agents" value={fleet.data.agents.total} to={href(["agents"])} />
            <Tile
              title="Online"
              value={fleet.data.agents.online}
              to={href(["agents"], new URLSearchParams({ status: "online" }))}
            />
            <Tile
              title="Offline"
              value={fleet.data.agents.offline}
              to={href(["agents"], new URLSearchParams({ status: "offline" }))}
            />
            <Tile title="Attention" value={fleet.data.agents.attention} />
            <Tile
              title="Drift"
              value={fleet.data.agents.drift}
              to={href(["agents"], new URLSearchParams({ status: "drift" }))}
            />
            <Tile title="Failed deliveries" value={failed ?? "…"} />
          </div>
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
              {fleet.data.labels.slice(0, 50).map((row) => (
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
