/** Rollouts: the list, and one rollout's waves and agents with pause / resume / abort (editor). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../api";
import { Badge, ErrorBox, Loading, Pager, useCursorPages, When } from "../components/ui";
import { waveProgress } from "../lib/rollouts";
import { rolloutBadge, shortUid } from "../lib/status";
import { href } from "../router";
import { useSession } from "../session";
import { LIVE_REFRESH_MS } from "./agents";

export function RolloutsPage() {
  const { tenantId } = useSession();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: ["rollouts", tenantId, pages.cursor],
    refetchInterval: LIVE_REFRESH_MS,
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/rollouts", {
          params: {
            path: { tenantId },
            query: { limit: 50, ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
        }),
      ),
  });
  return (
    <section>
      <h1>Rollouts</h1>
      <ErrorBox error={list.error} />
      {list.data ? (
        <>
          <table>
            <thead>
              <tr>
                <th>Rollout</th>
                <th>Assignment</th>
                <th>Revision</th>
                <th>State</th>
                <th>Succeeded</th>
                <th>Failed</th>
                <th>Started</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <a href={href(["rollouts", r.id])}>
                      <code>{r.id}</code>
                    </a>
                  </td>
                  <td>{r.assignment}</td>
                  <td>
                    {r.template} {r.fromRevision} → {r.toRevision}
                  </td>
                  <td>
                    <Badge badge={rolloutBadge(r.state)} />
                  </td>
                  <td>
                    {r.counts.succeeded}/{r.population}
                  </td>
                  <td>{r.counts.failed}</td>
                  <td>
                    <When at={r.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 && <p className="muted">No rollout yet.</p>}
          <Pager pages={pages} nextCursor={list.data.nextCursor} />
        </>
      ) : (
        <Loading what="rollouts" />
      )}
    </section>
  );
}

export function RolloutPage({ id }: { id: string }) {
  const { tenantId, can } = useSession();
  const client = useQueryClient();
  const path = { tenantId, id };
  const rollout = useQuery({
    queryKey: ["rollout", tenantId, id],
    refetchInterval: LIVE_REFRESH_MS,
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/tenants/{tenantId}/rollouts/{id}", { params: { path } })),
  });
  const pages = useCursorPages();
  const agents = useQuery({
    queryKey: ["rollout-agents", tenantId, id, pages.cursor],
    refetchInterval: LIVE_REFRESH_MS,
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/rollouts/{id}/agents", {
          params: { path, query: { limit: 50, ...(pages.cursor ? { cursor: pages.cursor } : {}) } },
        }),
      ),
  });
  const act = useMutation({
    mutationFn: async (verb: "pause" | "resume" | "abort") => {
      const options = { params: { path } };
      if (verb === "pause")
        return unwrap(await api.POST("/api/v1/tenants/{tenantId}/rollouts/{id}/pause", options));
      if (verb === "resume")
        return unwrap(await api.POST("/api/v1/tenants/{tenantId}/rollouts/{id}/resume", options));
      return unwrap(await api.POST("/api/v1/tenants/{tenantId}/rollouts/{id}/abort", options));
    },
    onSuccess: (data) => {
      client.setQueryData(["rollout", tenantId, id], data);
      void client.invalidateQueries({ queryKey: ["rollout-agents", tenantId, id] });
    },
  });
  if (rollout.error) return <ErrorBox error={rollout.error} />;
  if (!rollout.data) return <Loading what="the rollout" />;
  const r = rollout.data;
  const open = r.state === "running" || r.state === "paused";
  return (
    <section>
      <p>
        <a href={href(["rollouts"])}>← Rollouts</a>
      </p>
      <h1>
        Rollout <code>{r.id}</code>{" "}
        <span data-testid="rollout-state">
          <Badge badge={rolloutBadge(r.state)} />
        </span>
      </h1>
      <p>
        {r.assignment}: {r.template} {r.fromRevision} → {r.toRevision}; canary {String(r.strategy.canary)},
        waves {r.strategy.waves.join(", ")}, bake {r.strategy.bakeSeconds}s, max failures{" "}
        {String(r.strategy.maxFailures)}
      </p>
      {r.reason && <p className="warn">{r.reason}</p>}
      {can("editor") && open && (
        <div className="actions">
          {r.state === "running" && (
            <button type="button" onClick={() => act.mutate("pause")} disabled={act.isPending}>
              Pause
            </button>
          )}
          {r.state === "paused" && (
            <button type="button" onClick={() => act.mutate("resume")} disabled={act.isPending}>
              Resume
            </button>
          )}
          <button
            type="button"
            className="danger"
            disabled={act.isPending}
            onClick={() => {
              if (window.confirm("Abort? Agents that got the target get their previous revision back."))
                act.mutate("abort");
            }}
          >
            Abort
          </button>
          <ErrorBox error={act.error} />
        </div>
      )}
      <h2>Waves</h2>
      <table>
        <thead>
          <tr>
            <th>Wave</th>
            <th>Agents</th>
            <th>Finished</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {waveProgress(r).map((w) => (
            <tr key={w.name} data-phase={w.phase}>
              <td>{w.name}</td>
              <td>{w.size}</td>
              <td>
                <progress max={w.size || 1} value={w.finished} /> {w.finished}/{w.size}
              </td>
              <td className="muted">{w.phase}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        succeeded {r.counts.succeeded}, in progress {r.counts.inProgress}, pending {r.counts.pending}, failed{" "}
        {r.counts.failed}, rolled back {r.counts.rolledBack}, drifted {r.counts.drifted}
      </p>
      <h2>Agents</h2>
      <ErrorBox error={agents.error} />
      {agents.data && (
        <>
          <table>
            <thead>
              <tr>
                <th>#</th>
                <th>Agent</th>
                <th>State</th>
                <th>Applied</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {agents.data.items.map((a) => (
                <tr key={a.instanceUid}>
                  <td>
                    {a.position}
                    {a.canary && " (canary)"}
                  </td>
                  <td>
                    <a href={href(["agents", a.instanceUid])}>
                      <code>{shortUid(a.instanceUid)}</code>
                    </a>
                  </td>
                  <td>
                    <Badge badge={rolloutBadge(a.state)} />
                  </td>
                  <td>
                    <When at={a.appliedAt} />
                  </td>
                  <td>{a.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} nextCursor={agents.data.nextCursor} />
        </>
      )}
    </section>
  );
}
