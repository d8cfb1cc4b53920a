/**
 * `agent-api rollouts list|get|pause|resume|abort …` against a running server's REST API.
 * Exit codes as for `apply`: 0 done, 1 refused by the server or unreachable, 2 bad usage. The
 * token may come from AGENT_API_TOKEN (kept out of shell history).
 */
import { parseArgs } from "node:util";

export const ROLLOUTS_USAGE = `usage: agent-api rollouts list [--state S] [--assignment A] --tenant <tenantId> --url <url> --token <xsa_…>
       agent-api rollouts get|agents|pause|resume|abort <rolloutId> --tenant <tenantId> --url <url> --token <xsa_…>

  list      rollouts, newest first (--state running|paused|completed|aborted|superseded, --assignment NAME)
  get       one rollout with its counts
  agents    the agents of a rollout with their state and reason (--state pending|in_progress|…)
  pause     stop admitting agents (editor)
  resume    continue; failures so far no longer count (editor)
  abort     every agent that got the target gets its previous revision back (editor)
  --token   an API key; or set AGENT_API_TOKEN`;

interface RolloutAnswer {
  id: string;
  assignment: string;
  fromRevision: number;
  toRevision: number;
  state: string;
  reason: string | null;
  currentWave: number;
  waveTargets: number[];
  counts: Record<string, number>;
}

const VERBS = new Set(["list", "get", "agents", "pause", "resume", "abort"]);

function line(r: RolloutAnswer): string {
  const c = r.counts;
  const wave = r.currentWave === 0 ? "canary" : `wave ${r.currentWave}/${r.waveTargets.length - 1}`;
  return `${r.id}  ${r.assignment} ${r.fromRevision}→${r.toRevision}  ${r.state} (${wave})  pending ${c.pending} in progress ${c.inProgress} succeeded ${c.succeeded} failed ${c.failed}${r.reason ? `  — ${r.reason}` : ""}`;
}

/** Runs the command; returns the process exit code. */
export async function runRollouts(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
  env: { token?: string },
): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        tenant: { type: "string" },
        url: { type: "string" },
        token: { type: "string" },
        state: { type: "string" },
        assignment: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    err(`agent-api rollouts: ${(e as Error).message}\n${ROLLOUTS_USAGE}`);
    return 2;
  }
  if (values.help) {
    out(ROLLOUTS_USAGE);
    return 0;
  }
  const [verb, id] = positionals;
  const token = (values.token as string | undefined) ?? env.token;
  const missing = ["tenant", "url"].filter((k) => !values[k]);
  if (!token) missing.push("token");
  if (!verb || !VERBS.has(verb) || (verb !== "list" && !id) || missing.length > 0) {
    err(
      `agent-api rollouts: ${missing.length > 0 ? `missing ${missing.map((m) => `--${m}`).join(", ")}` : "bad usage"}\n${ROLLOUTS_USAGE}`,
    );
    return 2;
  }
  const base = `/api/v1/tenants/${encodeURIComponent(String(values.tenant))}/rollouts`;
  const path =
    verb === "list"
      ? base
      : verb === "get"
        ? `${base}/${encodeURIComponent(id ?? "")}`
        : `${base}/${encodeURIComponent(id ?? "")}/${verb}`;
  const url = new URL(path, String(values.url));
  if (verb === "list" || verb === "agents") {
    if (values.state) url.searchParams.set("state", String(values.state));
    if (verb === "list" && values.assignment) url.searchParams.set("assignment", String(values.assignment));
  }
  const write = verb === "pause" || verb === "resume" || verb === "abort";
  let res: Response;
  try {
    res = await fetch(url, { method: write ? "POST" : "GET", headers: { authorization: `Bearer ${token}` } });
  } catch (e) {
    err(`agent-api rollouts: cannot reach ${url.origin}: ${(e as Error).message}`);
    return 1;
  }
  const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (!res.ok || !body) {
    err(`agent-api rollouts: ${res.status} ${String(body?.detail ?? res.statusText)}`);
    for (const i of (body?.issues as Array<{ path: string; message: string }> | undefined) ?? [])
      err(`  ${i.path}: ${i.message}`);
    return 1;
  }
  if (verb === "list") for (const r of body.items as RolloutAnswer[]) out(line(r));
  else if (verb === "agents")
    for (const a of body.items as Array<{
      instanceUid: string;
      state: string;
      canary: boolean;
      reason: string | null;
    }>)
      out(`${a.instanceUid}  ${a.state}${a.canary ? " (canary)" : ""}${a.reason ? `  — ${a.reason}` : ""}`);
  else out(line(body as unknown as RolloutAnswer));
  return 0;
}
