/** The tenant's audit trail, newest first (the API answers admins only). */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, unwrap } from "../api";
import { ErrorBox, Loading, Pager, useCursorPages, When } from "../components/ui";
import { useSession } from "../session";

export function AuditPage() {
  const { tenantId, can } = useSession();
  const pages = useCursorPages();
  const [action, setAction] = useState("");
  const [draft, setDraft] = useState("");
  const list = useQuery({
    queryKey: ["audit", tenantId, action, pages.cursor],
    enabled: can("admin"),
    placeholderData: keepPreviousData,
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/audit-events", {
          params: {
            path: { tenantId },
            query: {
              limit: 50,
              ...(action ? { action } : {}),
              ...(pages.cursor ? { cursor: pages.cursor } : {}),
            },
          },
        }),
      ),
  });
  if (!can("admin")) return <p className="muted">The audit log needs an admin key.</p>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    pages.reset();
    setAction(draft.trim());
  };
  return (
    <section>
      <h1>Audit log</h1>
      <form className="filters" onSubmit={submit}>
        <label>
          Action
          <input value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="config_template.put" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={list.error} />
      {list.data ? (
        <>
          <table>
            <thead>
              <tr>
                <th>When</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Target</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((e) => (
                <tr key={e.id}>
                  <td>
                    <When at={e.createdAt} />
                  </td>
                  <td>
                    <code>{e.actor.id}</code>
                  </td>
                  <td>{e.action}</td>
                  <td>
                    {e.target.type} <code>{e.target.id}</code>
                  </td>
                  <td>
                    <code className="details">{JSON.stringify(e.details)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} nextCursor={list.data.nextCursor} />
        </>
      ) : (
        <Loading what="audit events" />
      )}
    </section>
  );
}
