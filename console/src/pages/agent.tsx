/**
 * One agent: what it is and reports (description, health, capabilities, components, effective
 * config as the server masks it), what it should run and why (explain), its deliveries with the
 * collector's errors, and the write actions an editor has.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { type AgentDetail, api, unwrap } from "../api";
import { Badge, ErrorBox, KeyValues, Labels, Loading, Pager, useCursorPages, When } from "../components/ui";
import { labelsPatch, parseLabels } from "../lib/labels";
import { agentBadge, deliveryBadge, healthRows, remoteConfigStatusOf } from "../lib/status";
import { href } from "../router";
import { useSession } from "../session";
import { LIVE_REFRESH_MS } from "./agents";

export function AgentPage({ uid }: { uid: string }) {
  const { tenantId } = useSession();
  const path = { tenantId, instanceUid: uid };
  const agent = useQuery({
    queryKey: ["agent", tenantId, uid],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/tenants/{tenantId}/agents/{instanceUid}", { params: { path } })),
    refetchInterval: LIVE_REFRESH_MS,
  });
  if (agent.error) return <ErrorBox error={agent.error} />;
  if (!agent.data) return <Loading what="the agent" />;
  const a = agent.data;
  const reported = remoteConfigStatusOf(a.remoteConfigStatus);
  return (
    <section>
      <p>
        <a href={href(["agents"])}>← Agents</a>
      </p>
      <h1>
        Agent <code>{a.instanceUid}</code> <Badge badge={agentBadge(a)} />
      </h1>
      <Actions agent={a} />
      <div className="grid">
        <div>
          <h2>Labels</h2>
          <Labels labels={a.labels} />
          <h2>Description</h2>
          <h3>Identifying</h3>
          <KeyValues values={a.description?.identifying ?? {}} />
          <h3>Non-identifying</h3>
          <KeyValues values={a.description?.nonIdentifying ?? {}} />
          <h2>Connection</h2>
          <KeyValues
            values={{
              transport: a.connection.transport ?? "—",
              "connected at": <When at={a.connection.connectedAt} />,
              "last seen": <When at={a.connection.lastSeenAt} />,
              "enrolled at": <When at={a.enrolledAt} />,
            }}
          />
        </div>
        <div>
          <h2>Health</h2>
          <HealthTable health={a.health} />
          <h2>Capabilities</h2>
          <p>
            {a.capabilities.names.map((n) => (
              <code key={n} className="label">
                {n}
              </code>
            ))}
          </p>
          {a.customCapabilities.length > 0 && <p>Custom: {a.customCapabilities.join(", ")}</p>}
          <h2>Available components</h2>
          <Components available={a.availableComponents} />
        </div>
      </div>
      <h2>Runs now</h2>
      <p data-testid="running-config">
        {a.runningConfig
          ? `${a.runningConfig.template ?? "?"}@${a.runningConfig.version ?? "?"} (${a.runningConfig.configHash.slice(0, 12)})`
          : "nothing reported"}
        {reported && reported.status !== "UNSET" && (
          <>
            {" "}
            — last reported <Badge badge={deliveryBadge(reported.status.toLowerCase())} />
            {reported.errorMessage && <span className="error-inline"> {reported.errorMessage}</span>}
          </>
        )}
      </p>
      {a.driftReason && <p className="warn">{a.driftReason}</p>}
      <Explain uid={uid} />
      <h2>Effective config (as the agent reports it, secrets masked)</h2>
      {a.effectiveConfig ? (
        Object.entries(a.effectiveConfig.files).map(([name, file]) => (
          <details key={name}>
            <summary>{name || "collector config"}</summary>
            <pre>{file.body}</pre>
          </details>
        ))
      ) : (
        <p className="muted">Not reported (or not shown while secrets cannot be read).</p>
      )}
      <Deliveries uid={uid} />
    </section>
  );
}

function HealthTable({ health }: { health: unknown }) {
  const rows = healthRows(health);
  if (rows.length === 0) return <p className="muted">Not reported.</p>;
  return (
    <table>
      <tbody>
        {rows.map((row) => (
          <tr key={row.path}>
            <td style={{ paddingLeft: `${row.depth * 1.2}em` }}>{row.name}</td>
            <td>
              <Badge
                badge={{
                  label: row.healthy ? "healthy" : "unhealthy",
                  tone: row.healthy ? "ok" : "bad",
                  title: row.status,
                }}
              />
            </td>
            <td className="error-inline">{row.lastError}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Components({ available }: { available: AgentDetail["availableComponents"] }) {
  if (!available) return <p className="muted">Not reported.</p>;
  if (available.status !== "reported")
    return <p className="muted">{available.refusal ?? available.status}</p>;
  const kinds = ["receivers", "processors", "exporters", "extensions", "connectors"] as const;
  return (
    <KeyValues
      values={Object.fromEntries(kinds.map((k) => [k, available[k].map((c) => c.type).join(", ") || "—"]))}
    />
  );
}

function Explain({ uid }: { uid: string }) {
  const { tenantId } = useSession();
  const explain = useQuery({
    queryKey: ["explain", tenantId, uid],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/agents/{instanceUid}/config", {
          params: { path: { tenantId, instanceUid: uid } },
        }),
      ),
    refetchInterval: LIVE_REFRESH_MS,
  });
  if (explain.error) return <ErrorBox error={explain.error} />;
  if (!explain.data) return <Loading what="the desired config" />;
  const e = explain.data;
  return (
    <>
      <h2>Should run, and why</h2>
      <p data-testid="explanation">{e.explanation}</p>
      <KeyValues
        values={{
          outcome: e.outcome,
          assignment: e.assignment ?? "—",
          revision: e.revision ? `${e.revision.template}@${e.revision.version}` : "—",
          delivery: e.delivery ? (
            <span data-testid="delivery-status">
              <Badge badge={deliveryBadge(e.delivery.status)} /> {e.delivery.errorMessage}
            </span>
          ) : (
            "—"
          ),
        }}
      />
      {e.matching.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Matching assignment</th>
              <th>Selector</th>
              <th>Layer</th>
              <th>Priority</th>
              <th>Template</th>
            </tr>
          </thead>
          <tbody>
            {e.matching.map((m) => (
              <tr key={m.assignment}>
                <td>{m.assignment}</td>
                <td>
                  <code>{m.selector}</code>
                </td>
                <td>{m.layer}</td>
                <td>{m.priority}</td>
                <td>
                  {m.template}@{m.revision}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {e.renderError && <p className="error-inline">{e.renderError}</p>}
      {e.renderedConfig && (
        <details>
          <summary>Rendered config (secrets masked)</summary>
          <pre>{e.renderedConfig}</pre>
        </details>
      )}
    </>
  );
}

function Deliveries({ uid }: { uid: string }) {
  const { tenantId } = useSession();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: ["agent-deliveries", tenantId, uid, pages.cursor],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/agents/{instanceUid}/deliveries", {
          params: {
            path: { tenantId, instanceUid: uid },
            query: { limit: 20, ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
        }),
      ),
    refetchInterval: LIVE_REFRESH_MS,
  });
  return (
    <>
      <h2>Deliveries</h2>
      <ErrorBox error={list.error} />
      {list.data && (
        <>
          <ol className="timeline" data-testid="deliveries">
            {list.data.items.map((d) => (
              <li key={d.id} data-status={d.status}>
                <When at={d.updatedAt} /> <Badge badge={deliveryBadge(d.status, d.stalled)} />{" "}
                {d.revision?.template
                  ? `${d.revision.template}@${d.revision.version}`
                  : d.configHash.slice(0, 12)}
                {d.running && " (running)"}
                {d.errorMessage && <div className="error-inline">{d.errorMessage}</div>}
              </li>
            ))}
          </ol>
          {list.data.items.length === 0 && <p className="muted">No delivery yet.</p>}
          <Pager pages={pages} nextCursor={list.data.nextCursor} />
        </>
      )}
    </>
  );
}

function Actions({ agent }: { agent: AgentDetail }) {
  const session = useSession();
  const client = useQueryClient();
  const [labelsText, setLabelsText] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const path = { tenantId: session.tenantId, instanceUid: agent.instanceUid };
  const act = useMutation({
    mutationFn: async (action: () => Promise<string>) => action(),
    onSuccess: (message) => {
      setNotice(message);
      void client.invalidateQueries({ queryKey: ["agent", session.tenantId, agent.instanceUid] });
      void client.invalidateQueries({ queryKey: ["agent-deliveries", session.tenantId, agent.instanceUid] });
    },
  });
  if (!session.can("editor")) return null;
  const run = (action: () => Promise<string>) => {
    setNotice(null);
    act.mutate(action);
  };
  const saveLabels = (e: FormEvent) => {
    e.preventDefault();
    if (labelsText === null) return;
    const parsed = parseLabels(labelsText);
    if (typeof parsed === "string") {
      setNotice(parsed);
      return;
    }
    run(async () => {
      unwrap(
        await api.PATCH("/api/v1/tenants/{tenantId}/agents/{instanceUid}", {
          params: { path },
          body: { labels: labelsPatch(agent.labels, parsed) },
        }),
      );
      setLabelsText(null);
      return "Labels saved.";
    });
  };
  const revoked = agent.attention === "revoked";
  // The server refuses a restart to an agent without the capability: say so on the button.
  const restartable = agent.capabilities.names.includes("acceptsRestartCommand");
  return (
    <div className="actions">
      <button
        type="button"
        disabled={revoked}
        onClick={() =>
          run(async () => {
            unwrap(
              await api.POST("/api/v1/tenants/{tenantId}/agents/{instanceUid}/rotate-key", {
                params: { path },
              }),
            );
            return "A new key is offered to the agent.";
          })
        }
      >
        Rotate key
      </button>
      <button
        type="button"
        disabled={revoked || !restartable}
        title={restartable ? undefined : "The agent does not accept restart commands"}
        onClick={() =>
          run(async () => {
            unwrap(
              await api.POST("/api/v1/tenants/{tenantId}/agents/{instanceUid}/restart", { params: { path } }),
            );
            return "Restart requested.";
          })
        }
      >
        Restart
      </button>
      <button
        type="button"
        onClick={() =>
          run(async () => {
            const r = unwrap(
              await api.POST("/api/v1/tenants/{tenantId}/agents/{instanceUid}/deliveries/retry", {
                params: { path },
              }),
            );
            return r.agents > 0 ? "The failed config is pushed again." : "Nothing to retry.";
          })
        }
      >
        Retry
      </button>
      <button type="button" onClick={() => setLabelsText(labelsToText(agent.labels))}>
        Edit labels
      </button>
      <button
        type="button"
        className="danger"
        disabled={revoked}
        onClick={() => {
          if (window.confirm(`Revoke agent ${agent.instanceUid}? Its keys stop working at once.`))
            run(async () => {
              unwrap(
                await api.POST("/api/v1/tenants/{tenantId}/agents/{instanceUid}/revoke", {
                  params: { path },
                }),
              );
              return "Revoked.";
            });
        }}
      >
        Revoke
      </button>
      {labelsText !== null && (
        <form onSubmit={saveLabels} className="inline-form">
          <label>
            Labels
            <input
              value={labelsText}
              onChange={(e) => setLabelsText(e.target.value)}
              placeholder="env=prod, tier=edge"
            />
          </label>
          <button type="submit">Save labels</button>
          <button type="button" onClick={() => setLabelsText(null)}>
            Cancel
          </button>
        </form>
      )}
      {notice && <span className="notice">{notice}</span>}
      <ErrorBox error={act.error} />
    </div>
  );
}

function labelsToText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}
