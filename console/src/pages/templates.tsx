/**
 * Templates: the list; one template's revisions, a diff between any two, a new revision (editor),
 * and what a chosen agent would be sent (the explain call renders its config, secrets masked).
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useState } from "react";
import { api, unwrap } from "../api";
import { ErrorBox, Loading, Pager, useCursorPages, When } from "../components/ui";
import { type DiffRow, diffStats, lineDiff } from "../lib/diff";
import { href } from "../router";
import { useSession } from "../session";

export function TemplatesPage() {
  const { tenantId } = useSession();
  const pages = useCursorPages();
  const list = useQuery({
    queryKey: ["templates", tenantId, pages.cursor],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/config-templates", {
          params: {
            path: { tenantId },
            query: { limit: 50, ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
        }),
      ),
  });
  return (
    <section>
      <h1>Templates</h1>
      <ErrorBox error={list.error} />
      {list.data ? (
        <>
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Latest</th>
                <th>Description</th>
                <th>Source</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((t) => (
                <tr key={t.name}>
                  <td>
                    <a href={href(["templates", t.name])}>{t.name}</a>
                  </td>
                  <td>{t.latestVersion}</td>
                  <td>{t.description}</td>
                  <td>{t.source ?? "—"}</td>
                  <td>
                    <When at={t.updatedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager pages={pages} nextCursor={list.data.nextCursor} />
        </>
      ) : (
        <Loading what="templates" />
      )}
    </section>
  );
}

export function TemplatePage({ name }: { name: string }) {
  const { tenantId, can } = useSession();
  const path = { tenantId, name };
  const revisions = useQuery({
    queryKey: ["revisions", tenantId, name],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/config-templates/{name}/revisions", {
          params: { path, query: { limit: 100 } },
        }),
      ),
  });
  const versions = revisions.data?.items.map((r) => r.version) ?? [];
  const [left, setLeft] = useState<number | null>(null);
  const [right, setRight] = useState<number | null>(null);
  // The latest against the one before it, again whenever a new revision appears.
  const latest = versions[0] ?? null;
  const previous = versions[1] ?? latest;
  useEffect(() => {
    setRight(latest);
    setLeft(previous);
  }, [latest, previous]);
  return (
    <section>
      <p>
        <a href={href(["templates"])}>← Templates</a>
      </p>
      <h1>Template {name}</h1>
      <ErrorBox error={revisions.error} />
      {revisions.data ? (
        <table data-testid="revisions">
          <thead>
            <tr>
              <th>Version</th>
              <th>Message</th>
              <th>Author</th>
              <th>Created</th>
              <th>sha256</th>
            </tr>
          </thead>
          <tbody>
            {revisions.data.items.map((r) => (
              <tr key={r.version}>
                <td>{r.version}</td>
                <td>{r.message}</td>
                <td>{r.author}</td>
                <td>
                  <When at={r.createdAt} />
                </td>
                <td>
                  <code>{r.contentSha256.slice(0, 12)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Loading what="revisions" />
      )}
      <h2>Diff</h2>
      <div className="filters">
        <label>
          From
          <select value={left ?? ""} onChange={(e) => setLeft(Number(e.target.value))}>
            {versions.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <label>
          To
          <select value={right ?? ""} onChange={(e) => setRight(Number(e.target.value))}>
            {versions.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
      </div>
      {left !== null && right !== null && <RevisionDiff name={name} left={left} right={right} />}
      {can("editor") && <NewRevision name={name} latest={versions[0] ?? null} />}
      <Preview />
    </section>
  );
}

function useRevisionContent(name: string, version: number) {
  const { tenantId } = useSession();
  return useQuery({
    queryKey: ["revision", tenantId, name, version],
    staleTime: Number.POSITIVE_INFINITY, // a revision never changes
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/config-templates/{name}/revisions/{version}", {
          params: { path: { tenantId, name, version } },
        }),
      ),
  });
}

function RevisionDiff({ name, left, right }: { name: string; left: number; right: number }) {
  const a = useRevisionContent(name, left);
  const b = useRevisionContent(name, right);
  if (a.error || b.error) return <ErrorBox error={a.error ?? b.error} />;
  if (!a.data || !b.data) return <Loading what="the diff" />;
  const rows = lineDiff(a.data.content ?? "", b.data.content ?? "");
  return <DiffView rows={rows} />;
}

export function DiffView({ rows }: { rows: readonly DiffRow[] }) {
  const { added, removed } = diffStats(rows);
  return (
    <div className="diff" data-testid="diff">
      <p>
        <span className="added">+{added}</span> <span className="removed">−{removed}</span>
      </p>
      <pre>
        {rows.map((row, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows are positional and never reorder
          <div key={i} className={`diff-${row.kind}`}>
            {row.kind === "added" ? "+ " : row.kind === "removed" ? "- " : "  "}
            {row.text}
          </div>
        ))}
      </pre>
    </div>
  );
}

function NewRevision({ name, latest }: { name: string; latest: number | null }) {
  const { tenantId } = useSession();
  const client = useQueryClient();
  const current = useQuery({
    queryKey: ["revision", tenantId, name, latest],
    enabled: latest !== null,
    staleTime: Number.POSITIVE_INFINITY,
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/config-templates/{name}/revisions/{version}", {
          params: { path: { tenantId, name, version: latest ?? 0 } },
        }),
      ),
  });
  const [content, setContent] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const push = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.PUT("/api/v1/tenants/{tenantId}/config-templates/{name}", {
          params: { path: { tenantId, name } },
          body: { content: content ?? "", ...(message ? { message } : {}) },
        }),
      ),
    onSuccess: () => {
      setContent(null);
      setMessage("");
      void client.invalidateQueries({ queryKey: ["revisions", tenantId, name] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    push.mutate();
  };
  if (content === null)
    return (
      <p>
        <button
          type="button"
          disabled={!current.data}
          onClick={() => setContent(current.data?.content ?? "")}
        >
          New revision
        </button>
        {push.data && (
          <span className="notice">
            {push.data.created ? `Revision ${push.data.revision.version} saved.` : "Unchanged: same content."}
          </span>
        )}
      </p>
    );
  return (
    <form onSubmit={submit} className="editor">
      <h2>New revision</h2>
      <label>
        Content
        <textarea value={content} onChange={(e) => setContent(e.target.value)} rows={20} spellCheck={false} />
      </label>
      <label>
        Message
        <input value={message} onChange={(e) => setMessage(e.target.value)} />
      </label>
      <button type="submit" disabled={push.isPending}>
        Save revision
      </button>
      <button type="button" onClick={() => setContent(null)}>
        Cancel
      </button>
      <ErrorBox error={push.error} />
    </form>
  );
}

/** What one agent is sent: the explain call's rendered config (the API renders per agent there). */
function Preview() {
  const { tenantId } = useSession();
  const [uid, setUid] = useState("");
  const [asked, setAsked] = useState<string | null>(null);
  const preview = useQuery({
    queryKey: ["explain", tenantId, asked],
    enabled: asked !== null,
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/tenants/{tenantId}/agents/{instanceUid}/config", {
          params: { path: { tenantId, instanceUid: asked ?? "" } },
        }),
      ),
  });
  return (
    <>
      <h2>Render preview for an agent</h2>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked(uid.trim() || null);
        }}
      >
        <label>
          Agent instance uid
          <input value={uid} onChange={(e) => setUid(e.target.value)} />
        </label>
        <button type="submit">Preview</button>
      </form>
      <ErrorBox error={preview.error} />
      {preview.data && (
        <>
          <p>{preview.data.explanation}</p>
          {preview.data.renderError && <p className="error-inline">{preview.data.renderError}</p>}
          {preview.data.renderedConfig && <pre>{preview.data.renderedConfig}</pre>}
        </>
      )}
    </>
  );
}
