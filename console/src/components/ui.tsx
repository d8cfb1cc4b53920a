/** Small shared pieces: badges, errors, pagers, key/value tables. */
import { type ReactNode, useState } from "react";
import type { Badge as BadgeModel } from "../lib/status";

export function Badge({ badge }: { badge: BadgeModel }) {
  return (
    <span className={`badge badge-${badge.tone}`} title={badge.title}>
      {badge.label}
    </span>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="error" role="alert">
      {message}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="muted">Loading {what}…</p>;
}

/** Cursor pages: the cursors seen so far, so "Previous" goes back without a server-side offset. */
export function useCursorPages(): {
  cursor: string | undefined;
  page: number;
  next(cursor: string): void;
  previous(): void;
  reset(): void;
} {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: stack[stack.length - 1],
    page: stack.length,
    next: (cursor) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([undefined]),
  };
}

export function Pager({
  pages,
  nextCursor,
}: {
  pages: ReturnType<typeof useCursorPages>;
  nextCursor: string | null | undefined;
}) {
  return (
    <div className="pager">
      <button type="button" disabled={pages.page <= 1} onClick={pages.previous}>
        Previous
      </button>
      <span>Page {pages.page}</span>
      <button type="button" disabled={!nextCursor} onClick={() => nextCursor && pages.next(nextCursor)}>
        Next
      </button>
    </div>
  );
}

export function KeyValues({ values }: { values: Record<string, ReactNode> }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return <p className="muted">none</p>;
  return (
    <dl className="kv">
      {entries.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Labels({ labels }: { labels: Record<string, string> }) {
  return (
    <span className="labels">
      {Object.entries(labels).map(([k, v]) => (
        <code key={k} className="label">
          {k}={v}
        </code>
      ))}
    </span>
  );
}

export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">—</span>;
  return <time dateTime={at}>{new Date(at).toLocaleString()}</time>;
}
