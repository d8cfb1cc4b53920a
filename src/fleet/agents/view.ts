/**
 * The agent as the admin API shows it: a pure mapping from stored rows to views. Status comes
 * from the liveness rule (liveness.ts), the same one the list filters use.
 */
import { keyFingerprint } from "../../credentials/index.js";
import type { AgentKeyRow, Labels } from "../../db/schema.js";
import { AgentCapability, capabilityNames, hasCapability } from "../../protocol/capabilities.js";
import type { AvailableComponentsView } from "../components/catalog.js";
import { driftView } from "./drift.js";
import type { AgentStatus, Liveness } from "./liveness.js";
import type { AgentListRow } from "./repository.js";

export interface AgentKeyView {
  id: string;
  displayPrefix: string;
  fingerprint: string;
  createdAt: string;
  firstUsedAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokeReason: string | null;
}

/** The config the agent runs now, as far as it told us, with the revision it came from. */
export interface RunningConfigView {
  configHash: string;
  template: string | null;
  version: number | null;
  since: string | null;
}

export interface AgentView {
  instanceUid: string;
  tenantId: string;
  status: AgentStatus;
  /** Why the agent gets no config from us, or null when nothing stands in the way. */
  attention: "revoked" | "needs_accepts_opamp_connection_settings" | null;
  labels: Labels;
  description: { identifying: Record<string, string>; nonIdentifying: Record<string, string> } | null;
  capabilities: { bits: string; names: string[] };
  /** Custom capabilities the agent reported (reverse-DNS names); empty when none. */
  customCapabilities: string[];
  health: unknown;
  remoteConfigStatus: unknown;
  /** The remote config the agent last reported as applied (null: none of ours). */
  runningConfig: RunningConfigView | null;
  /** It runs another config than it should (docs/drift.md); null: not known. */
  drift: boolean | null;
  /** Why it drifts, or why drift is not known; null when it runs what it should. */
  driftReason: string | null;
  connection: {
    transport: string | null;
    connectedAt: string | null;
    /** When the last connection ended; null while connected. */
    disconnectedAt: string | null;
    lastSeenAt: string | null;
    heartbeatIntervalSeconds: number;
  };
  enrollmentTokenId: string | null;
  enrolledAt: string;
  /** When the agent first used its current key. */
  keyConfirmedAt: string | null;
  keyRotationRequestedAt: string | null;
  /**
   * The last restart an admin asked for, and when the agent came back from it (it reported a
   * new health start time), or null while it has not; null when no restart was ever asked.
   */
  restart: { requestedAt: string; completedAt: string | null } | null;
  revokedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface AgentDetailView extends AgentView {
  availableComponents: AvailableComponentsView | null;
  effectiveConfig: { files: Record<string, { body: string; contentType: string }> } | null;
  keys: AgentKeyView[];
}

export function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

export function keyView(k: AgentKeyRow): AgentKeyView {
  return {
    id: k.id,
    displayPrefix: k.display_prefix,
    fingerprint: keyFingerprint(k.key_hash),
    createdAt: k.created_at.toISOString(),
    firstUsedAt: iso(k.first_used_at),
    lastUsedAt: iso(k.last_used_at),
    revokedAt: iso(k.revoked_at),
    revokeReason: k.revoke_reason,
  };
}

/** Maps a stored agent row to its view at time `now`. */
export function agentView(row: AgentListRow, liveness: Liveness, now: number): AgentView {
  const caps = BigInt(row.capabilities);
  const needsSettings =
    row.key_confirmed_at === null && !hasCapability(caps, AgentCapability.AcceptsOpAMPConnectionSettings);
  return {
    instanceUid: row.instance_uid,
    tenantId: row.tenant_id,
    status: liveness.statusOf(row, now),
    attention: row.revoked_at
      ? "revoked"
      : needsSettings && caps !== 0n
        ? "needs_accepts_opamp_connection_settings"
        : null,
    labels: row.labels,
    description: row.description as AgentView["description"],
    capabilities: { bits: `0x${caps.toString(16)}`, names: capabilityNames(caps) },
    customCapabilities: row.custom_capabilities ?? [],
    health: row.health,
    remoteConfigStatus: row.remote_config_status,
    runningConfig: row.running_config_hash
      ? {
          configHash: row.running_config_hash,
          template: row.running_template,
          version: row.running_version,
          since: iso(row.running_since),
        }
      : null,
    ...driftView(row),
    connection: {
      transport: row.transport,
      connectedAt: iso(row.connected_at),
      disconnectedAt: iso(row.disconnected_at),
      lastSeenAt: iso(row.last_seen_at),
      heartbeatIntervalSeconds: row.heartbeat_interval_s,
    },
    enrollmentTokenId: row.enrollment_token_id,
    enrolledAt: row.enrolled_at.toISOString(),
    keyConfirmedAt: iso(row.key_confirmed_at),
    keyRotationRequestedAt: iso(row.key_rotation_requested_at),
    restart: row.restart_requested_at
      ? { requestedAt: row.restart_requested_at.toISOString(), completedAt: iso(row.restart_completed_at) }
      : null,
    revokedAt: iso(row.revoked_at),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
