/** Secrets: metadata and the templates that use them; a value can be set, never read back. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, type Schemas, unwrap } from "../api";
import { ErrorBox, Loading, Pager, useCursorPages, When } from "../components/ui";
import { href } from "../router";
import { useSession } from "../session";

export function SecretsPage() {
  const { tenantId, can } = useSession();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: ["secrets", tenantId, pages.cursor],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/secrets", {
          params: {
            path: { tenantId },
            query: { limit: 50, ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
        }),
      ),
  });
  return (
    <section>
      <h1>Secrets</h1>
      {can("editor") && <SetSecret />}
      <ErrorBox error={list.error} />
      {list.data ? (
        <>
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Version</th>
                <th>Updated</th>
                <th>By</th>
                <th>Used by</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((s) => (
                <SecretRow key={s.name} secret={s} />
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 && <p className="muted">No secret yet.</p>}
          <Pager pages={pages} nextCursor={list.data.nextCursor} />
        </>
      ) : (
        <Loading what="secrets" />
      )}
    </section>
  );
}

function SecretRow({ secret: s }: { secret: Schemas["Secret"] }) {
  const { tenantId } = useSession();
  const detail = useQuery({
    queryKey: ["secret", tenantId, s.name, s.version],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/secrets/{name}", {
          params: { path: { tenantId, name: s.name } },
        }),
      ),
  });
  return (
    <tr>
      <td>{s.name}</td>
      <td>{s.version}</td>
      <td>
        <When at={s.updatedAt} />
      </td>
      <td>{s.updatedBy}</td>
      <td>
        {detail.data
          ? detail.data.referencedBy.length === 0
            ? "no template"
            : detail.data.referencedBy.map((r) => (
                <div key={`${r.template}@${r.version}`}>
                  <a href={href(["templates", r.template])}>
                    {r.template}@{r.version}
                  </a>
                  {r.inUse ? " (in use)" : ""}
                </div>
              ))
          : "…"}
      </td>
    </tr>
  );
}

/** Write-only: the value goes to the server and the field is cleared; nothing shows it again. */
function SetSecret() {
  const { tenantId } = useSession();
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const save = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.PUT("/api/v1/tenants/{tenantId}/secrets/{name}", {
          params: { path: { tenantId, name } },
          body: { value },
        }),
      ),
    onSuccess: () => {
      setValue("");
      void client.invalidateQueries({ queryKey: ["secrets", tenantId] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name && value) save.mutate();
  };
  return (
    <form className="filters" onSubmit={submit}>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Value
        <input type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
      </label>
      <button type="submit" disabled={!name || !value || save.isPending}>
        Set secret
      </button>
      {save.data && <span className="notice">Saved version {save.data.version}.</span>}
      <ErrorBox error={save.error} />
    </form>
  );
}
