/**
 * How a test agent is configured (the supervisor's config file, what it persisted from an
 * earlier run, and the test's hooks), and the shape of the config-apply hook.
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ComponentHealthSchema, RemoteConfigStatuses } from "../../../src/gen/opamp/v1/opamp_pb.js";
import type { CollectorBuild } from "./available-components.js";

/** One entry of a remote config map, body decoded as UTF-8. */
export interface ConfigFile {
  body: string;
  contentType: string;
}

/** Outcome of applying a remote config (what the collector restart would produce). */
export type ApplyConfigResult = { ok: true; effectiveConfig?: string } | { ok: false; error: string };

/** Applies a remote config; may be async. A thrown error counts as `{ ok: false }`. */
export type ApplyConfig = (
  config: Map<string, ConfigFile>,
  hash: Uint8Array,
) => ApplyConfigResult | Promise<ApplyConfigResult>;

export interface TestAgentOptions {
  /** `ws://host:port/v1/opamp` or `http://host:port/v1/opamp` (plain-HTTP polling transport). */
  url: string;
  /** Initial bearer (the `xse_…` enrollment token from the supervisor config file). */
  token: string;
  /** 16 bytes; default: a fresh UUIDv7 (what the supervisor generates and persists). */
  instanceUid?: Uint8Array;
  /** Default: `SUPERVISOR_CAPABILITIES` (agent-wire.ts). */
  capabilities?: bigint;
  /**
   * Default: identifying service.name=otelcol-contrib, service.version=0.156.0,
   * service.instance.id=<uuid>; non-identifying host.name=test-host, os.type=linux.
   */
  description?: { identifying?: Record<string, string>; nonIdentifying?: Record<string, string> };
  /** Default: ok, effective config = the `""` entry's body. */
  applyConfig?: ApplyConfig;
  /**
   * Default true: report APPLYING as soon as a new config arrives, as the supervisor does (the
   * protocol makes it optional: with false the agent says nothing until APPLIED or FAILED).
   */
  reportsApplying?: boolean;
  /** Remote config hash persisted by a previous run, reported in the first message. */
  lastRemoteConfigHash?: Uint8Array;
  /** Status persisted with {@link lastRemoteConfigHash}; default APPLIED. */
  lastRemoteConfigStatus?: { status: RemoteConfigStatuses; errorMessage?: string };
  /**
   * The collector build reported as AvailableComponents (with ReportsAvailableComponents in
   * `capabilities`); default DEFAULT_BUILD (available-components.ts).
   */
  build?: CollectorBuild;
  /** Default true: send the component list when the server asks (ReportAvailableComponents). */
  answersComponentsRequest?: boolean;
  /** Effective config the agent already runs (e.g. a persisted one); default none. */
  effectiveConfig?: string;
  /**
   * Default true: on an OpAMP connection-settings offer do what the supervisor does (stop the
   * client, start a new one with `destination_endpoint` and exactly the offered headers).
   */
  followConnectionSettings?: boolean;
  /** Extra headers from the "config file": sent by the initial client and after restart(), never after an offer. */
  headers?: Record<string, string>;
  /** HTTP transport polling interval; default 200 ms. */
  pollIntervalMs?: number;
  /** WS heartbeat timer (counted from the last message sent); default off. */
  autoHeartbeatMs?: number;
  /** Reconnect (same client object: seq continues, delta first message) after an unexpected close; default off. */
  reconnectDelayMs?: number;
  /** Health queued before each client starts; default `{ healthy: false }` (supervisor `startOpAMPClient`). */
  startingHealth?: MessageInitShape<typeof ComponentHealthSchema>;
  /**
   * HTTP only: send `agent_disconnect` in a last POST on stop/offer (spec after v0.18.0).
   * Default false, as opamp-go v0.23.0's HTTP client just stops polling.
   */
  httpAgentDisconnect?: boolean;
  /** Custom capabilities reported with the full state (opamp-go SetCustomCapabilities). */
  customCapabilities?: string[];
  /** Set AgentToServerFlags_RequestInstanceUid until the server assigns a uid. */
  requestInstanceUid?: boolean;
  /**
   * What a restart command does (the supervisor restarts its collector: a new process with a new
   * health start time). Default on; off: the command is only recorded.
   */
  actOnRestart?: boolean;
  /** Debug sink for the agent's event log (also kept in `TestAgent.events`). */
  log?: (line: string) => void;
}
