/**
 * The own-telemetry connection-settings offer (issue 13): `own_metrics` / `own_logs` /
 * `own_traces`, each only to an agent that reports the matching capability.
 *
 * What opampsupervisor v0.158.0 (opamp-go v0.23.0) does with it, read from its source:
 * - a message whose `connection_settings` carries own_* but no `opamp` is applied in
 *   `onMessage` (the OpAMP connection is left alone: only `opamp` makes it reconnect);
 * - every own_* message REPLACES the whole own-telemetry section (a signal left out is turned
 *   off; one with an empty `destination_endpoint` too), then the collector config is composed
 *   again and the collector restarts only when that config changed. Offering the same settings
 *   again is therefore harmless, never a loop;
 * - it does not look at `hash` (opamp-go ≥ v0.24.0 skips an offer whose hash it has processed).
 * So the offer never carries `opamp`, names every signal the agent can take (empty = off), and its
 * hash covers every setting in it, resolved secret values included.
 */
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { OwnTelemetryDestinations, TelemetrySignal } from "../fleet/own-telemetry/settings.js";
import {
  type ConnectionSettingsOffers,
  ConnectionSettingsOffersSchema,
  TelemetryConnectionSettingsSchema,
} from "../gen/opamp/v1/opamp_pb.js";
import { AgentCapability, hasCapability } from "../protocol/capabilities.js";

/** The agent capability that makes a signal offerable, and its field in the offer. */
const SIGNALS: ReadonlyArray<{
  signal: TelemetrySignal;
  capability: bigint;
  field: "ownMetrics" | "ownLogs" | "ownTraces";
}> = [
  { signal: "metrics", capability: AgentCapability.ReportsOwnMetrics, field: "ownMetrics" },
  { signal: "logs", capability: AgentCapability.ReportsOwnLogs, field: "ownLogs" },
  { signal: "traces", capability: AgentCapability.ReportsOwnTraces, field: "ownTraces" },
];

/** The tenant's own-telemetry destinations at a generation; undefined destinations: offer nothing. */
export interface OwnTelemetrySettings {
  generation: number;
  destinations: OwnTelemetryDestinations | undefined;
}

/** Where a session gets own-telemetry settings (the replica's OwnTelemetryPusher, below it). */
export interface OwnTelemetrySource {
  settingsFor(tenantId: string): Promise<OwnTelemetrySettings>;
  /** Whether the tenant's settings changed after `generation` (a cheap in-memory check). */
  changedSince(tenantId: string, generation: number): boolean;
}

const ANY_OWN_TELEMETRY =
  AgentCapability.ReportsOwnMetrics | AgentCapability.ReportsOwnLogs | AgentCapability.ReportsOwnTraces;

/** Whether an agent with these capabilities can take any own-telemetry setting. */
export function acceptsOwnTelemetry(capabilities: bigint): boolean {
  return hasCapability(capabilities, ANY_OWN_TELEMETRY);
}

/**
 * The offer for an agent with `capabilities`, and its hash as hex (undefined when the agent takes
 * no own telemetry). Signals the agent can take but the tenant does not set are offered empty,
 * which turns them off.
 */
export function ownTelemetryOffer(
  capabilities: bigint,
  destinations: OwnTelemetryDestinations,
): { offer: ConnectionSettingsOffers; hashHex: string } | undefined {
  const offered = SIGNALS.filter((s) => hasCapability(capabilities, s.capability));
  if (offered.length === 0) return undefined;
  const offer = create(ConnectionSettingsOffersSchema, {});
  const hashed: unknown[] = ["own-telemetry/v1"];
  for (const { signal, field } of offered) {
    const d = destinations[signal];
    offer[field] = create(
      TelemetryConnectionSettingsSchema,
      d ? { destinationEndpoint: d.endpoint, headers: { headers: d.headers.map((h) => ({ ...h })) } } : {},
    );
    hashed.push(d ? [signal, d.endpoint, d.headers.map((h) => [h.key, h.value])] : [signal]);
  }
  const hash = createHash("sha256").update(JSON.stringify(hashed)).digest();
  offer.hash = hash;
  return { offer, hashHex: hash.toString("hex") };
}
