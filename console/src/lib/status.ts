/**
 * What one status badge says about an agent: the API's facts (status, attention, drift, last
 * delivery) folded into the single word an operator scans a list for, worst first.
 */
import type { Agent } from "../api";

export type Tone = "ok" | "warn" | "bad" | "muted";

export interface Badge {
  label: string;
  tone: Tone;
  /** The longer reason, for a tooltip. */
  title: string;
}

/** The badge of an agent: revoked, attention, drift, offline, online (in that order of concern). */
export function agentBadge(agent: Pick<Agent, "status" | "attention" | "drift" | "driftReason">): Badge {
  if (agent.attention === "revoked") return { label: "revoked", tone: "bad", title: "Its key is revoked" };
  if (agent.attention)
    return {
      label: "attention",
      tone: "warn",
      title: "It cannot get config: it does not accept connection settings",
    };
  if (agent.drift)
    return { label: "drift", tone: "warn", title: agent.driftReason ?? "Runs another config than it should" };
  if (agent.status === "offline") return { label: "offline", tone: "muted", title: "Not connected" };
  return { label: "online", tone: "ok", title: "Connected" };
}

const DELIVERY_TONES: Record<string, Tone> = {
  applied: "ok",
  applying: "warn",
  offered: "warn",
  pending: "muted",
  failed: "bad",
  superseded: "muted",
};

/** The badge of a delivery status; a stalled one is a warning whatever its state. */
export function deliveryBadge(status: string, stalled = false): Badge {
  if (stalled)
    return { label: `${status} (stalled)`, tone: "warn", title: "No progress within the stall time" };
  return { label: status, tone: DELIVERY_TONES[status] ?? "muted", title: status };
}

const ROLLOUT_TONES: Record<string, Tone> = {
  running: "ok",
  paused: "warn",
  completed: "ok",
  aborted: "bad",
  superseded: "muted",
  pending: "muted",
  in_progress: "warn",
  succeeded: "ok",
  failed: "bad",
  rolled_back: "muted",
};

/** The badge of a rollout or a rollout agent state. */
export function rolloutBadge(state: string): Badge {
  return { label: state.replace("_", " "), tone: ROLLOUT_TONES[state] ?? "muted", title: state };
}

/**
 * An instance uid short enough for a list: its first 8 and last 4 hex digits. Both ends, because
 * supervisors generate UUIDv7s, whose leading digits are a timestamp shared by agents enrolled
 * together; the tail is random.
 */
export function shortUid(uid: string): string {
  return uid.length > 13 ? `${uid.slice(0, 8)}…${uid.slice(-4)}` : uid;
}

/** An agent's reported RemoteConfigStatus (the API types it as unknown: it is the agent's own). */
export interface RemoteConfigStatus {
  lastRemoteConfigHash: string;
  status: "UNSET" | "APPLIED" | "APPLYING" | "FAILED";
  errorMessage: string;
}

export function remoteConfigStatusOf(value: unknown): RemoteConfigStatus | null {
  if (!value || typeof value !== "object" || !("status" in value)) return null;
  return value as RemoteConfigStatus;
}

/** An agent's reported ComponentHealth, recursively. */
export interface Health {
  healthy: boolean;
  status: string;
  lastError: string;
  components: Record<string, Health>;
}

export interface HealthRow {
  /** Unique: the names from the agent down to this component, joined by " / ". */
  path: string;
  /** The component's own name, e.g. "receiver:otlp". */
  name: string;
  depth: number;
  healthy: boolean;
  status: string;
  lastError: string;
}

/** The health tree as rows, depth first, components sorted by name; [] when none reported. */
export function healthRows(value: unknown): HealthRow[] {
  if (!value || typeof value !== "object" || !("healthy" in value)) return [];
  const rows: HealthRow[] = [];
  const walk = (path: string, name: string, health: Health, depth: number) => {
    rows.push({
      path,
      name,
      depth,
      healthy: health.healthy,
      status: health.status,
      lastError: health.lastError,
    });
    for (const child of Object.keys(health.components ?? {}).sort()) {
      const next = health.components[child];
      if (next) walk(`${path} / ${child}`, child, next, depth + 1);
    }
  };
  walk("agent", "agent", value as Health, 0);
  return rows;
}
