/** The shell: sign-in, then the navigation and the page the hash names. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useMemo, useState } from "react";
import { ApiError, api, storedKey, storeKey, unwrap } from "./api";
import { ErrorBox, Loading } from "./components/ui";
import { AgentPage } from "./pages/agent";
import { AgentsPage } from "./pages/agents";
import { AssignmentsPage } from "./pages/assignments";
import { AuditPage } from "./pages/audit";
import { FleetPage } from "./pages/fleet";
import { RolloutPage, RolloutsPage } from "./pages/rollouts";
import { SecretsPage } from "./pages/secrets";
import { TemplatePage, TemplatesPage } from "./pages/templates";
import { href, type Route, useRoute } from "./router";
import { roleAtLeast, type Session, SessionContext } from "./session";

const NAV: [string, string][] = [
  ["fleet", "Fleet"],
  ["agents", "Agents"],
  ["templates", "Templates"],
  ["assignments", "Assignments"],
  ["rollouts", "Rollouts"],
  ["secrets", "Secrets"],
  ["audit", "Audit log"],
];

export function App() {
  const client = useQueryClient();
  const [key, setKey] = useState(storedKey());
  // Without a stored key the server may still know us by the portal's JWT cookie.
  const who = useQuery({
    queryKey: ["whoami", key],
    queryFn: async () => unwrap(await api.GET("/api/v1/whoami")),
    retry: false,
    staleTime: 60_000,
  });
  const signIn = (value: string | null) => {
    storeKey(value);
    client.clear();
    setKey(value);
  };
  if (who.isPending) return <Loading what="session" />;
  if (who.isError || !who.data) {
    const unauthenticated = who.error instanceof ApiError && who.error.status === 401;
    return (
      <SignIn
        onKey={signIn}
        error={key && unauthenticated ? who.error : unauthenticated ? null : who.error}
      />
    );
  }
  return <SignedIn who={who.data} onSignOut={() => signIn(null)} />;
}

function SignIn({ onKey, error }: { onKey(key: string): void; error: unknown }) {
  const [value, setValue] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) onKey(value.trim());
  };
  return (
    <main className="signin">
      <h1>agent-api console</h1>
      <form onSubmit={submit}>
        <label>
          API key
          <input
            type="password"
            autoComplete="off"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            placeholder="xsa_…"
          />
        </label>
        <button type="submit">Sign in</button>
      </form>
      <p className="muted">Kept for this browser tab only (sessionStorage).</p>
      <ErrorBox error={error} />
    </main>
  );
}

function SignedIn({ who, onSignOut }: { who: Session["who"]; onSignOut(): void }) {
  const route = useRoute();
  const [pickedTenant, setPickedTenant] = useState<string | null>(null);
  const tenants = useQuery({
    queryKey: ["tenants"],
    queryFn: async () => unwrap(await api.GET("/api/v1/tenants", { params: { query: { limit: 100 } } })),
    enabled: who.tenantId === null,
  });
  const tenantId = who.tenantId ?? pickedTenant ?? tenants.data?.items[0]?.id ?? null;
  const session = useMemo<Session | null>(
    () =>
      tenantId
        ? { who, tenantId, can: (minimum) => roleAtLeast(who.role, minimum), signOut: onSignOut }
        : null,
    [who, tenantId, onSignOut],
  );
  const page = route.segments[0] ?? "fleet";
  return (
    <div className="shell">
      <header>
        <strong>agent-api</strong>
        <nav>
          {NAV.map(([id, title]) => (
            <a key={id} href={href([id])} className={page === id ? "active" : ""}>
              {title}
            </a>
          ))}
        </nav>
        <span className="who">
          {who.tenantId === null ? (
            <select
              value={tenantId ?? ""}
              onChange={(e) => setPickedTenant(e.target.value)}
              aria-label="Tenant"
            >
              {tenants.data?.items.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.displayName}
                </option>
              ))}
            </select>
          ) : (
            <code>{who.tenantId}</code>
          )}{" "}
          <span className="role" data-role={who.role}>
            {who.role}
          </span>{" "}
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        {session ? (
          <SessionContext.Provider value={session}>
            <Page route={route} />
          </SessionContext.Provider>
        ) : (
          <p className="muted">No tenant yet.</p>
        )}
      </main>
    </div>
  );
}

function Page({ route }: { route: Route }) {
  const [page, id] = route.segments;
  switch (page ?? "fleet") {
    case "fleet":
      return <FleetPage />;
    case "agents":
      return id ? <AgentPage uid={id} /> : <AgentsPage params={route.params} />;
    case "templates":
      return id ? <TemplatePage name={id} /> : <TemplatesPage />;
    case "assignments":
      return <AssignmentsPage />;
    case "rollouts":
      return id ? <RolloutPage id={id} /> : <RolloutsPage />;
    case "secrets":
      return <SecretsPage />;
    case "audit":
      return <AuditPage />;
    default:
      return <p>No such page.</p>;
  }
}
