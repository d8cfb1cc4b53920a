/**
 * `agent-api apply -f <dir|file> --tenant T --url URL --token TOKEN [--dry-run] [--prune] [--source S]`
 * Reads manifests, sends them to POST /api/v1/tenants/{T}/apply and prints the diff.
 * Exit codes: 0 applied (or dry run shown), 1 refused by the server or unreachable, 2 bad usage or
 * manifests. The token may also come from AGENT_API_TOKEN (kept out of shell history).
 */
import { parseArgs } from "node:util";
import { ManifestError, readManifests } from "./manifests.js";

export const APPLY_USAGE = `usage: agent-api apply -f <dir|file> --tenant <tenantId> --url <http(s)://host:port> --token <xsa_…>
                       [--dry-run] [--prune] [--source <marker>]

  -f, --file     a manifest file, or a directory of *.yaml manifests (recursive)
  --tenant       the tenant id (xs_…)
  --url          the agent-api base URL
  --token        an editor (or higher) API key; or set AGENT_API_TOKEN
  --dry-run      show what would change, change nothing
  --prune        delete templates and assignments of this --source that the manifests no longer have
  --source       marker of objects managed by these manifests (default: agent-api-cli)`;

interface ApplyAnswer {
  dryRun: boolean;
  changes: Array<{ kind: string; name: string; action: string; detail?: Record<string, unknown> }>;
  summary: Record<string, number>;
}

const SYMBOL: Record<string, string> = { create: "+", update: "~", delete: "-", unchanged: "=" };

/** Runs the command; returns the process exit code. `env` is the caller's environment (main.ts). */
export async function runApply(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
  env: { token?: string },
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: "string", short: "f" },
        tenant: { type: "string" },
        url: { type: "string" },
        token: { type: "string" },
        "dry-run": { type: "boolean", default: false },
        prune: { type: "boolean", default: false },
        source: { type: "string", default: "agent-api-cli" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    err(`agent-api apply: ${(e as Error).message}\n${APPLY_USAGE}`);
    return 2;
  }
  if (values.help) {
    out(APPLY_USAGE);
    return 0;
  }
  const token = (values.token as string | undefined) ?? env.token;
  const missing = ["file", "tenant", "url"].filter((k) => !values[k]);
  if (!token) missing.push("token");
  if (missing.length > 0) {
    err(`agent-api apply: missing ${missing.map((m) => `--${m}`).join(", ")}\n${APPLY_USAGE}`);
    return 2;
  }
  let bundle: Awaited<ReturnType<typeof readManifests>>;
  try {
    bundle = await readManifests(String(values.file));
  } catch (e) {
    err(`agent-api apply: ${e instanceof ManifestError ? e.message : (e as Error).message}`);
    return 2;
  }
  const dryRun = values["dry-run"] === true;
  const url = new URL(
    `/api/v1/tenants/${encodeURIComponent(String(values.tenant))}/apply`,
    String(values.url),
  );
  url.searchParams.set("dryRun", String(dryRun));
  url.searchParams.set("prune", String(values.prune === true));
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ source: values.source, ...bundle }),
    });
  } catch (e) {
    err(`agent-api apply: cannot reach ${url.origin}: ${(e as Error).message}`);
    return 1;
  }
  const body = (await res.json().catch(() => null)) as
    | (ApplyAnswer & {
        detail?: string;
        issues?: Array<{ path: string; message: string; line?: number; column?: number }>;
      })
    | null;
  if (!res.ok || !body) {
    err(`agent-api apply: ${res.status} ${body?.detail ?? res.statusText}`);
    for (const i of body?.issues ?? []) {
      const pos =
        i.line !== undefined
          ? ` (line ${i.line}${i.column !== undefined ? `, column ${i.column}` : ""})`
          : "";
      err(`  ${i.path}: ${i.message}${pos}`);
    }
    return 1;
  }
  out(dryRun ? "Dry run: nothing was changed." : "Applied.");
  for (const c of body.changes) {
    const detail = c.detail && "version" in c.detail ? ` (revision ${String(c.detail.version)})` : "";
    out(`  ${SYMBOL[c.action] ?? "?"} ${c.kind} ${c.name}: ${c.action}${detail}`);
  }
  const s = body.summary;
  out(
    dryRun
      ? `${s.create ?? 0} to create, ${s.update ?? 0} to update, ${s.delete ?? 0} to delete, ${s.unchanged ?? 0} unchanged`
      : `${s.create ?? 0} created, ${s.update ?? 0} updated, ${s.delete ?? 0} deleted, ${s.unchanged ?? 0} unchanged`,
  );
  return 0;
}
