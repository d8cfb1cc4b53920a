/**
 * What the test agent does with own-telemetry connection settings, as opampsupervisor v0.158.0
 * (opamp-go v0.23.0) does: opamp-go drops each own_* setting the agent lacks the capability for;
 * when any is left, the supervisor saves the message (it survives a restart) and REPLACES its
 * whole own-telemetry section with the signals that have a non-empty `destination_endpoint`; the
 * collector restarts only when the resulting config changed. The `hash` is not looked at.
 */
import type {
  ConnectionSettingsOffers,
  TelemetryConnectionSettings,
} from "../../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability } from "../../../src/opamp/codec.js";

export interface OwnDestination {
  endpoint: string;
  headers: Record<string, string>;
}
export type OwnTelemetryState = { metrics?: OwnDestination; logs?: OwnDestination; traces?: OwnDestination };

function destination(s: TelemetryConnectionSettings | undefined): OwnDestination | undefined {
  if (!s?.destinationEndpoint) return undefined;
  const headers: Record<string, string> = {};
  for (const h of s.headers?.headers ?? []) headers[h.key] = h.value;
  return { endpoint: s.destinationEndpoint, headers };
}

export class OwnTelemetryRecord {
  /** Every message carrying own_* settings the agent could take, as received. */
  readonly offers: ConnectionSettingsOffers[] = [];
  /** The own telemetry the collector runs with now. */
  state: OwnTelemetryState = {};
  /** Collector restarts the offers caused (the composed config changed). */
  restarts = 0;

  /** Handles `connection_settings` of one ServerToAgent. */
  receive(settings: ConnectionSettingsOffers, capabilities: bigint): void {
    const metrics = capabilities & AgentCapability.ReportsOwnMetrics ? settings.ownMetrics : undefined;
    const logs = capabilities & AgentCapability.ReportsOwnLogs ? settings.ownLogs : undefined;
    const traces = capabilities & AgentCapability.ReportsOwnTraces ? settings.ownTraces : undefined;
    if (!metrics && !logs && !traces) return;
    this.offers.push(settings);
    const next: OwnTelemetryState = {};
    const m = destination(metrics);
    const l = destination(logs);
    const t = destination(traces);
    if (m) next.metrics = m;
    if (l) next.logs = l;
    if (t) next.traces = t;
    if (JSON.stringify(next) !== JSON.stringify(this.state)) this.restarts++;
    this.state = next;
  }
}
