/**
 * What the test agent reports about itself (description, health, effective config, remote
 * config status) and opamp-go's status compression over it: a client object's first message,
 * and the next one after ReportFullState, carry every facet the capabilities allow; every other
 * message carries only the facets that changed since the last one.
 */

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { KeyValue } from "../../../src/gen/opamp/v1/anyvalue_pb.js";
import {
  type AgentDescription,
  AgentDescriptionSchema,
  type AgentToServer,
  AgentToServerSchema,
  type AvailableComponents,
  type ComponentHealth,
  ComponentHealthSchema,
  CustomCapabilitiesSchema,
  type EffectiveConfig,
  EffectiveConfigSchema,
  type RemoteConfigStatus,
  type RemoteConfigStatuses,
  RemoteConfigStatusSchema,
} from "../../../src/gen/opamp/v1/opamp_pb.js";
import { AgentCapability } from "../../../src/opamp/codec.js";
import type { TestAgentOptions } from "./agent-options.js";
import {
  bytesEqual,
  ConfigStatus,
  effectiveConfigOf,
  keyValues,
  supervisorIdentifyingAttributes,
  supervisorNonIdentifyingAttributes,
} from "./agent-wire.js";
import { availableComponentsOf, DEFAULT_BUILD, hashOnly } from "./available-components.js";

export type Facet =
  | "description"
  | "health"
  | "effectiveConfig"
  | "remoteConfigStatus"
  | "availableComponents";

/** One client object's place in the message stream. */
export interface ReportCursor {
  seq: bigint;
  /** The next message re-sends every facet (first message, or after ReportFullState). */
  fullReport: boolean;
  /** Facets changed since the last message. */
  readonly pending: Set<Facet>;
  /**
   * The next message carries the whole component list (the server set ReportAvailableComponents
   * or ReportFullState); otherwise AvailableComponents goes as its hash alone, as in opamp-go.
   */
  componentList: boolean;
}

/** The header fields every message carries. */
export interface AgentIdentity {
  instanceUid: Uint8Array;
  capabilities: bigint;
  /** AgentToServerFlags (RequestInstanceUid). */
  flags?: bigint;
}

const textEncoder = new TextEncoder();

function stringAttrs(kvs: KeyValue[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of kvs) {
    if (kv.value?.value.case === "stringValue") out[kv.key] = kv.value.value.value;
  }
  return out;
}

export class ReportedStatus {
  /** The current client object's cursor: a changed facet is marked pending there. */
  cursor: ReportCursor | undefined;
  private description: AgentDescription;
  private healthNow: ComponentHealth;
  private effectiveConfigBody: string | undefined;
  private configStatus: RemoteConfigStatus;
  private readonly customCapabilities: string[] | undefined;
  private components: AvailableComponents;

  constructor(opts: TestAgentOptions, instanceUidText: string) {
    const { identifying, nonIdentifying } = opts.description ?? {};
    this.description = create(AgentDescriptionSchema, {
      identifyingAttributes: identifying
        ? keyValues(identifying)
        : supervisorIdentifyingAttributes(instanceUidText),
      nonIdentifyingAttributes: nonIdentifying
        ? keyValues(nonIdentifying)
        : supervisorNonIdentifyingAttributes("test-host"),
    });
    this.healthNow = create(ComponentHealthSchema, opts.startingHealth ?? { healthy: false });
    this.customCapabilities = opts.customCapabilities;
    this.effectiveConfigBody = opts.effectiveConfig;
    this.components = availableComponentsOf(opts.build ?? DEFAULT_BUILD);
    // opamp-go starts from an empty (UNSET) status when none was persisted, and still puts it in
    // the first message (clientcommon.PrepareStart / PrepareFirstMessage).
    this.configStatus = opts.lastRemoteConfigHash
      ? create(RemoteConfigStatusSchema, {
          lastRemoteConfigHash: new Uint8Array(opts.lastRemoteConfigHash),
          status: opts.lastRemoteConfigStatus?.status ?? ConfigStatus.APPLIED,
          errorMessage: opts.lastRemoteConfigStatus?.errorMessage ?? "",
        })
      : create(RemoteConfigStatusSchema, {});
  }

  /** The health reported now. */
  get health(): ComponentHealth {
    return this.healthNow;
  }

  /** The effective config body reported now (undefined if none yet). */
  get effectiveConfig(): string | undefined {
    return this.effectiveConfigBody;
  }

  /** The description's attributes as plain records. */
  get descriptionAttributes(): {
    identifying: Record<string, string>;
    nonIdentifying: Record<string, string>;
  } {
    return {
      identifying: stringAttrs(this.description.identifyingAttributes),
      nonIdentifying: stringAttrs(this.description.nonIdentifyingAttributes),
    };
  }

  /** The remote config status as persisted; undefined while UNSET without a hash. */
  get remoteConfigStatus(): { hash: Uint8Array; status: number; error: string } | undefined {
    const s = this.configStatus;
    if (s.lastRemoteConfigHash.byteLength === 0 && s.status === ConfigStatus.UNSET) return undefined;
    return { hash: s.lastRemoteConfigHash, status: s.status, error: s.errorMessage };
  }

  /** The build's AvailableComponents, list included (sent only when the server asks). */
  get availableComponents(): AvailableComponents {
    return this.components;
  }

  /** opamp-go `SetAvailableComponents` with a changed build: its hash goes in the next message. */
  setAvailableComponents(components: AvailableComponents): void {
    this.components = components;
    this.cursor?.pending.add("availableComponents");
  }

  /** Health as a client starts (supervisor `startOpAMPClient`); its first message is full anyway. */
  resetHealth(health: MessageInitShape<typeof ComponentHealthSchema>): void {
    this.healthNow = create(ComponentHealthSchema, health);
  }

  setHealth(health: MessageInitShape<typeof ComponentHealthSchema>): void {
    this.healthNow = create(ComponentHealthSchema, health);
    this.cursor?.pending.add("health");
  }

  /** A new collector process (after a restart command): healthy, with its own start time. */
  collectorStarted(nth: number): void {
    const startedNs = BigInt(Date.now()) * 1_000_000n + BigInt(nth);
    this.setHealth({ healthy: true, startTimeUnixNano: startedNs, statusTimeUnixNano: startedNs });
  }

  /** The collector runs with a new `service.instance.id` (the supervisor got a new uid). */
  setServiceInstanceId(uid: string): void {
    const { identifying, nonIdentifying } = this.descriptionAttributes;
    if (!("service.instance.id" in identifying)) return;
    this.setDescription({ identifying: { ...identifying, "service.instance.id": uid }, nonIdentifying });
  }

  setEffectiveConfig(body: string): void {
    this.effectiveConfigBody = body;
    this.cursor?.pending.add("effectiveConfig");
  }

  setDescription(description: {
    identifying: Record<string, string>;
    nonIdentifying?: Record<string, string>;
  }): void {
    this.description = create(AgentDescriptionSchema, {
      identifyingAttributes: keyValues(description.identifying),
      nonIdentifyingAttributes: keyValues(description.nonIdentifying ?? {}),
    });
    this.cursor?.pending.add("description");
  }

  /** opamp-go `SetRemoteConfigStatus`: reported only when it changed. `hash` must not be empty. */
  setConfigStatus(hash: Uint8Array, status: RemoteConfigStatuses, errorMessage: string): void {
    const current = this.configStatus;
    if (
      bytesEqual(current.lastRemoteConfigHash, hash) &&
      current.status === status &&
      current.errorMessage === errorMessage
    ) {
      return;
    }
    this.configStatus = create(RemoteConfigStatusSchema, {
      lastRemoteConfigHash: hash,
      status,
      errorMessage,
    });
    this.cursor?.pending.add("remoteConfigStatus");
  }

  /**
   * Builds the next message of a client object: instance_uid, sequence_num, capabilities, plus
   * every facet when a full report is due, otherwise only the facets that changed (opamp-go
   * `NextMessage`). Fields given in `extra` win over the agent's own values. Advances the
   * cursor's sequence number.
   */
  compose(
    cursor: ReportCursor,
    identity: AgentIdentity,
    extra?: MessageInitShape<typeof AgentToServerSchema>,
  ): AgentToServer {
    const caps = identity.capabilities;
    const full = cursor.fullReport;
    const want = (facet: Facet): boolean => full || cursor.pending.has(facet);
    const msg = create(AgentToServerSchema, extra);
    if (extra?.instanceUid === undefined) msg.instanceUid = identity.instanceUid;
    if (extra?.sequenceNum === undefined) msg.sequenceNum = cursor.seq;
    if (extra?.capabilities === undefined) msg.capabilities = caps;
    if (identity.flags) msg.flags |= identity.flags;
    // opamp-go sends custom capabilities with the full state (they are part of its synced state).
    if (full && this.customCapabilities)
      msg.customCapabilities ??= create(CustomCapabilitiesSchema, {
        capabilities: [...this.customCapabilities],
      });
    if (want("description")) msg.agentDescription ??= this.description;
    if (want("health") && caps & AgentCapability.ReportsHealth) msg.health ??= this.healthNow;
    if (want("effectiveConfig") && caps & AgentCapability.ReportsEffectiveConfig) {
      msg.effectiveConfig ??= this.effectiveConfigMessage();
    }
    if (want("remoteConfigStatus") && caps & AgentCapability.ReportsRemoteConfig) {
      msg.remoteConfigStatus ??= this.configStatus;
    }
    if (caps & AgentCapability.ReportsAvailableComponents) {
      // opamp-go: the hash alone in the first message and on a change, the list when asked.
      if (cursor.componentList) msg.availableComponents ??= this.components;
      else if (want("availableComponents")) msg.availableComponents ??= hashOnly(this.components);
    }
    cursor.seq = msg.sequenceNum + 1n;
    cursor.fullReport = false;
    cursor.componentList = false;
    cursor.pending.clear();
    return msg;
  }

  private effectiveConfigMessage(): EffectiveConfig | undefined {
    if (this.effectiveConfigBody === undefined) return undefined;
    return create(EffectiveConfigSchema, effectiveConfigOf(textEncoder.encode(this.effectiveConfigBody)));
  }
}
