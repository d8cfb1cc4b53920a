/** Assignments: selector, layer, priority, how many agents match and win, conflicts. */
import { useQuery } from "@tanstack/react-query";
import { api, type Schemas, unwrap } from "../api";
import { ErrorBox, Loading, Pager, useCursorPages } from "../components/ui";
import { shortUid } from "../lib/status";
import { href } from "../router";
import { useSession } from "../session";

export function AssignmentsPage() {
  const { tenantId } = useSession();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: ["assignments", tenantId, pages.cursor],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/assignments", {
          params: {
            path: { tenantId },
            query: { limit: 50, ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
        }),
      ),
  });
  return (
    <section>
      <h1>Assignments</h1>
      <ErrorBox error={list.error} />
      {list.data ? (
        <>
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Selector</th>
                <th>Layer</th>
                <th>Priority</th>
                <th>Template</th>
                <th>Matching</th>
                <th>Conflicts</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((a) => (
                <AssignmentRow key={a.name} assignment={a} />
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 && <p className="muted">No assignment yet.</p>}
          <Pager pages={pages} nextCursor={list.data.nextCursor} />
        </>
      ) : (
        <Loading what="assignments" />
      )}
    </section>
  );
}

/** One row; its match figures come from the assignment's own GET (the list does not carry them). */
function AssignmentRow({ assignment: a }: { assignment: Schemas["Assignment"] }) {
  const { tenantId } = useSession();
  const detail = useQuery({
    queryKey: ["assignment", tenantId, a.name],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/assignments/{name}", {
          params: { path: { tenantId, name: a.name } },
        }),
      ),
  });
  const status = detail.data?.status;
  return (
    <tr>
      <td>{a.name}</td>
      <td>
        <a href={href(["agents"], new URLSearchParams({ selector: a.selector }))}>
          <code>{a.selector}</code>
        </a>
      </td>
      <td>{a.layer}</td>
      <td>{a.priority}</td>
      <td>
        <a href={href(["templates", a.template])}>{a.template}</a>@{a.revision}
      </td>
      <td>{status ? `${status.matchedAgents} (${status.winningAgents} win)` : "…"}</td>
      <td>
        {status && status.conflictingAgents > 0
          ? status.conflicts.map((c) => (
              <div key={c.instanceUid}>
                <a href={href(["agents", c.instanceUid])}>
                  <code>{shortUid(c.instanceUid)}</code>
                </a>{" "}
                tied with {c.tiedWith.join(", ")}
              </div>
            ))
          : status
            ? "none"
            : "…"}
      </td>
    </tr>
  );
}
