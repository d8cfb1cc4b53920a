/** What the OpAMP layer reports about an agent, as plain data (no protobuf types). */
import type { AvailableComponentsReport } from "../components/types.js";

export type RemoteConfigState = "UNSET" | "APPLIED" | "APPLYING" | "FAILED";

export interface AgentDescriptionReport {
  identifying: Record<string, string>;
  nonIdentifying: Record<string, string>;
}

export interface HealthReport {
  healthy: boolean;
  status: string;
  lastError: string;
  startTimeUnixNano: string;
  statusTimeUnixNano: string;
  components: Record<string, HealthReport>;
}

export interface EffectiveConfigReport {
  /** Config files by name ("" for the single-file collector config). */
  files: Record<string, { body: string; contentType: string }>;
}

export interface RemoteConfigStatusReport {
  /** Hex of last_remote_config_hash ("" when the agent has none). */
  lastRemoteConfigHash: string;
  status: RemoteConfigState;
  errorMessage: string;
}

/** The facets one AgentToServer carried; an absent facet means "unchanged". */
export interface AgentReport {
  sequenceNum: bigint;
  capabilities: bigint;
  description?: AgentDescriptionReport;
  health?: HealthReport;
  effectiveConfig?: EffectiveConfigReport;
  remoteConfigStatus?: RemoteConfigStatusReport;
  availableComponents?: AvailableComponentsReport;
  /** Reverse-DNS names of the custom capabilities the agent supports (custom_capabilities). */
  customCapabilities?: string[];
  /** The agent set RequestInstanceUid: it wants the server to assign its instance uid. */
  requestsInstanceUid?: boolean;
}

/** Which facets the server already holds for the agent (drives ReportFullState). */
export interface KnownFacets {
  description: boolean;
  health: boolean;
  effectiveConfig: boolean;
  remoteConfigStatus: boolean;
}

export type ConnectionAuth =
  | {
      kind: "enrollment";
      tenantId: string;
      tokenId: string;
      labels: Record<string, string>;
      allowConfigOnToken: boolean;
      /** The token's distinct-agent limit, or null. */
      maxUses: number | null;
    }
  | {
      kind: "agent";
      tenantId: string;
      instanceUid: string;
      keyId: string;
      keyCreatedAt: Date;
      firstUse: boolean;
    };

export interface ConnectionInfo {
  replicaId: string;
  connectionId: string;
  transport: "websocket" | "http";
  heartbeatIntervalSeconds: number;
}
