/**
 * One agent's OpAMP session on one connection (a WebSocket, or a run of plain-HTTP polls with
 * the same credential). Transport-independent: it turns each AgentToServer into the reply,
 * calling the fleet services for every rule (enrollment, reports, config, own telemetry,
 * component lists, identity). Messages of a session are handled one at a time. One cohesive
 * pipeline: the message in, the reply out; the wire shapes it sends are in server-messages.ts.
 */
import { create } from "@bufbuild/protobuf";
import type { Clock } from "../clock.js";
import type { AgentRef, AgentSessions, SessionStart } from "../fleet/agents/sessions.js";
import type { AgentReport, ConnectionAuth, KnownFacets, RemoteConfigState } from "../fleet/agents/types.js";
import type { ComponentCatalog } from "../fleet/components/catalog.js";
import type { AgentSessionFacts, RemoteConfigOffer } from "../fleet/configs/planner.js";
import type { DeliveryService } from "../fleet/deliveries/service.js";
import { type AgentToServer, type ServerToAgent, ServerToAgentSchema } from "../gen/opamp/v1/opamp_pb.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { AgentCapability, hasCapability, ServerToAgentFlag } from "../protocol/capabilities.js";
import { withSpan } from "../tracing.js";
import { instanceUidToString, uuidStringToBytes } from "./codec.js";
import { ComponentListRequest } from "./component-list.js";
import { ConfigOffers } from "./config-offers.js";
import { badRequest } from "./errors.js";
import { facetNames, needsFullState, readReport } from "./facets/index.js";
import {
  acceptsOwnTelemetry,
  type OwnTelemetrySettings,
  type OwnTelemetrySource,
  ownTelemetryOffer,
} from "./own-telemetry-offer.js";
import {
  agentIdentificationOf,
  opampConnectionOffer,
  remoteConfigOf,
  restartCommandMessage,
  SERVER_CAPABILITIES,
} from "./server-messages.js";

export type Transport = "websocket" | "http";

/** Where a session gets the config for its reply (the replica's ConfigPusher, below the sessions). */
export interface ConfigSource {
  offerFor(tenantId: string, facts: AgentSessionFacts): Promise<RemoteConfigOffer | undefined>;
}

export interface SessionDeps {
  sessions: AgentSessions;
  pusher: ConfigSource;
  /** The tenant's own-telemetry destinations (the replica's OwnTelemetryPusher). */
  ownTelemetry: OwnTelemetrySource;
  deliveries: DeliveryService;
  /** Where the component lists of collector builds are kept (AvailableComponents). */
  components: ComponentCatalog;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  replicaId: string;
  heartbeatIntervalSeconds: number;
  /** The endpoint agents are told to use for a transport (full URL). */
  publicUrl: (transport: Transport) => string;
  /** PEM CA bundle offered with the key (keeps supervisors verifying TLS after the switch). */
  offerCaCert: Uint8Array | undefined;
  /** True while the server shuts down: the replica marks all its agents offline in one statement. */
  isStopping: () => boolean;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export type SessionState = "new" | "active" | "held" | "rejected" | "closed";

export interface HandleResult {
  reply: ServerToAgent;
  /** The agent said goodbye (agent_disconnect). */
  disconnected: boolean;
}

export class AgentSession {
  state: SessionState = "new";
  ref: AgentRef | undefined;
  instanceUid: Uint8Array | undefined;
  #lastSeq: bigint | undefined;
  #capabilities = 0n;
  #known: KnownFacets = {
    description: false,
    health: false,
    effectiveConfig: false,
    remoteConfigStatus: false,
  };
  #firstReplySent = false;
  #heldNoticeSent = false;
  #rejection: string | undefined;
  #keyOffered = false;
  /** What the agent last said about its remote config, on this connection. */
  #reported: { hash: string; status: RemoteConfigState } | undefined;
  readonly #offers: ConfigOffers;
  /** The uid this connection was told to continue with (agent_identification), until it does. */
  #assignedUid: { text: string; bytes: Uint8Array } | undefined;
  /** The own-telemetry offer last sent on this connection, and the generation it was checked at. */
  #ownTelemetryHash: string | undefined;
  #ownTelemetryGeneration = 0;
  /** The component list of the agent's build: asked for, stored, waited for. */
  #componentList: ComponentListRequest | undefined;

  constructor(
    readonly auth: ConnectionAuth,
    readonly connectionId: string,
    readonly transport: Transport,
    private readonly deps: SessionDeps,
  ) {
    this.#offers = new ConfigOffers(transport);
  }

  /** Capabilities the agent reported last (offers are gated on the latest ones). */
  get capabilities(): bigint {
    return this.#capabilities;
  }

  async handle(msg: AgentToServer): Promise<HandleResult> {
    const started = performance.now();
    const report = readReport(msg);
    // No instance uid or tenant on the span: traces are not the place for fleet identities.
    const result = await withSpan(
      "opamp.message",
      "server",
      { "opamp.transport": this.transport, "opamp.facets": facetNames(report).join(",") || "heartbeat" },
      () => this.#handle(msg, report),
    );
    if (!this.#firstReplySent && !result.reply.errorResponse) {
      result.reply.capabilities = SERVER_CAPABILITIES;
      this.#firstReplySent = true;
    }
    this.deps.metrics.opampMessage(facetNames(report), (performance.now() - started) / 1000);
    return result;
  }

  async #handle(msg: AgentToServer, report: AgentReport): Promise<HandleResult> {
    // The same agent sends the same uid on every message: reuse the session's copy and string.
    const known =
      this.instanceUid !== undefined &&
      this.ref !== undefined &&
      bytesEqual(this.instanceUid, msg.instanceUid);
    const uidText = known ? (this.ref?.instanceUid ?? null) : instanceUidToString(msg.instanceUid);
    // Copy: decoded bytes point into the frame buffer, which must not stay alive with us.
    const uid = known && this.instanceUid ? this.instanceUid : new Uint8Array(msg.instanceUid);
    if (uidText === null) {
      this.deps.metrics.opampRejected("bad_instance_uid");
      return {
        reply: badRequest(
          uid,
          "instance_uid must be 16 bytes (UUID), or a 26-character ULID from an old client",
        ),
        disconnected: false,
      };
    }
    if (this.ref && this.ref.instanceUid !== uidText) {
      this.deps.metrics.opampRejected("instance_uid_changed");
      return { reply: badRequest(uid, "instance_uid changed within one connection"), disconnected: false };
    }
    const reply = create(ServerToAgentSchema, { instanceUid: uid });
    const disconnected = msg.agentDisconnect !== undefined;

    switch (this.state) {
      case "rejected":
        this.deps.metrics.opampRejected("rejected_session");
        return { reply: badRequest(uid, this.#rejection ?? "rejected"), disconnected };
      case "held":
        // Held connected: still a sign of life.
        if (this.ref) this.deps.sessions.touch(this.ref);
        if (disconnected) await this.end("agent_disconnect");
        return { reply: this.#heldReply(uid), disconnected };
      case "closed":
        return { reply, disconnected: true };
      default:
        break;
    }

    const capabilitiesChanged = report.capabilities !== this.#capabilities;
    this.#capabilities = report.capabilities;

    if (this.state === "new") {
      // Told to continue under another uid: nothing happens under this one until it does.
      if (this.#assignedUid && uidText !== this.#assignedUid.text) {
        return { reply: this.#assignmentReply(reply, this.#assignedUid.bytes), disconnected };
      }
      const start = await this.deps.sessions.begin(this.auth, uidText, report, {
        replicaId: this.deps.replicaId,
        connectionId: this.connectionId,
        transport: this.transport,
        heartbeatIntervalSeconds: this.deps.heartbeatIntervalSeconds,
      });
      if (start.outcome === "reassigned") {
        this.#assignedUid = { text: start.newInstanceUid, bytes: uuidStringToBytes(start.newInstanceUid) };
        this.deps.metrics.instanceUidAssigned(start.why);
        return { reply: this.#assignmentReply(reply, this.#assignedUid.bytes), disconnected };
      }
      this.instanceUid = uid;
      const early = this.#applyStart(start, uid);
      if (early) return { reply: early, disconnected };
      if (start.outcome === "active" && start.offerKey) {
        this.#addOffer(reply, start.offerKey);
        this.#keyOffered = true;
      }
      await this.#noteRemoteConfigStatus(report);
      await this.#componentListOf().note(report, reply);
      if (!disconnected) {
        await this.#attachConfig(reply);
        await this.#attachOwnTelemetry(reply);
      }
    } else if (this.ref) {
      if (report.remoteConfigStatus) {
        // Two independent batched writes (the agent row, its delivery row): wait for both at once.
        await Promise.all([
          this.deps.sessions.recordReport(this.ref, report, capabilitiesChanged),
          this.#noteRemoteConfigStatus(report),
        ]);
      } else {
        await this.deps.sessions.recordReport(this.ref, report, capabilitiesChanged);
      }
      const componentsSettled = await this.#componentListOf().note(report, reply);
      // The agent runs something other than what we last offered (a rollback, a lost offer; not a
      // report that crossed the offer, see config-offers.ts), or the wait for its component list
      // ended: decide again; a failed desired hash is not re-pushed.
      const runsOther = this.#offers.runsOther(report.remoteConfigStatus?.lastRemoteConfigHash);
      if (!disconnected && (runsOther || componentsSettled)) {
        await this.#attachConfig(reply);
      }
      // Newly capable, or a change this connection has not been checked against (a push that ran
      // while the session was starting): the hash decides whether anything is sent.
      if (
        !disconnected &&
        acceptsOwnTelemetry(this.#capabilities) &&
        (capabilitiesChanged ||
          this.deps.ownTelemetry.changedSince(this.ref.tenantId, this.#ownTelemetryGeneration))
      ) {
        await this.#attachOwnTelemetry(reply);
      }
      if (report.description) this.#known.description = true;
      if (report.health) this.#known.health = true;
      if (report.effectiveConfig) this.#known.effectiveConfig = true;
      if (report.remoteConfigStatus) this.#known.remoteConfigStatus = true;
    }

    if (needsFullState(this.#lastSeq, report, this.#known)) {
      reply.flags |= ServerToAgentFlag.ReportFullState;
    }
    this.#lastSeq = report.sequenceNum;

    if (disconnected) await this.end("agent_disconnect");
    return { reply, disconnected };
  }

  #applyStart(
    start: Exclude<SessionStart, { outcome: "reassigned" }>,
    uid: Uint8Array,
  ): ServerToAgent | undefined {
    if (start.outcome === "rejected") {
      this.state = "rejected";
      this.#rejection = start.reason;
      this.deps.metrics.opampRejected("rejected_session");
      this.deps.logger.info(
        { reason: start.reason, tenantId: this.auth.tenantId, transport: this.transport },
        "OpAMP session rejected",
      );
      return badRequest(uid, start.reason);
    }
    this.ref = start.ref;
    if (start.outcome === "held") {
      this.state = "held";
      this.#rejection = start.reason;
      return this.#heldReply(uid);
    }
    this.state = "active";
    this.#known = start.known;
    if (this.auth.kind === "enrollment")
      this.deps.metrics.enrollment(start.created ? "new" : "re-enrollment");
    if (start.needsConnectionSettings) {
      this.deps.logger.warn(
        { tenantId: start.ref.tenantId, instanceUid: start.ref.instanceUid },
        "agent cannot accept OpAMP connection settings; it stays on its enrollment token without config",
      );
    }
    return undefined;
  }

  /**
   * `agent_identification.new_instance_uid`, with ReportFullState: opamp-go adopts the uid before
   * it sends again, so the next message is a full report under the new uid, which begins the
   * session as that agent (the supervisor also persists the uid and restarts its collector).
   */
  #assignmentReply(reply: ServerToAgent, newUid: Uint8Array): ServerToAgent {
    reply.agentIdentification = agentIdentificationOf(newUid);
    reply.flags |= ServerToAgentFlag.ReportFullState;
    return reply;
  }

  /** A held agent is told why once; later messages get plain acknowledgements (no log spam). */
  #heldReply(uid: Uint8Array): ServerToAgent {
    if (this.#heldNoticeSent) return create(ServerToAgentSchema, { instanceUid: uid });
    this.#heldNoticeSent = true;
    return badRequest(uid, this.#rejection ?? "held");
  }

  /** Adds the connection-settings offer of the agent's own key (see opampConnectionOffer). */
  #addOffer(reply: ServerToAgent, key: string): void {
    reply.connectionSettings = opampConnectionOffer({
      endpoint: this.deps.publicUrl(this.transport),
      key,
      heartbeatIntervalSeconds: this.deps.heartbeatIntervalSeconds,
      caCert: this.deps.offerCaCert,
    });
  }

  async #noteRemoteConfigStatus(report: AgentReport): Promise<void> {
    const status = report.remoteConfigStatus;
    if (!status || !this.ref) return;
    this.#reported = status.lastRemoteConfigHash
      ? { hash: status.lastRemoteConfigHash, status: status.status }
      : undefined;
    await this.deps.deliveries.recordStatus(this.ref.tenantId, this.ref.instanceUid, status);
  }

  #componentListOf(): ComponentListRequest {
    if (!this.#componentList) {
      const ref = this.ref;
      if (!ref) throw new Error("the component list needs the session's agent");
      this.#componentList = new ComponentListRequest(
        ref,
        this.deps.components,
        this.deps.clock,
        this.deps.logger,
      );
    }
    return this.#componentList;
  }

  /** Whether config may be delivered on this connection at all. */
  #mayReceiveConfig(): boolean {
    if (this.state !== "active") return false;
    // Waiting for the component list asked for: the config is checked against it first.
    if (this.#componentList?.waiting) return false;
    if (this.auth.kind === "agent") return true;
    // On the enrollment token only when allowed, and not while the agent is switching to its key.
    return this.auth.allowConfigOnToken && !this.#keyOffered;
  }

  /** Facts the config planner needs, or undefined when config cannot go to this session. */
  configFacts(): AgentSessionFacts | undefined {
    if (!this.ref || !this.#mayReceiveConfig()) return undefined;
    // Read when the planner decides, not when the facts were gathered: a fan-out plans its chunks
    // over seconds, and an agent may report APPLIED meanwhile (a stale status would re-offer).
    const reported = () => this.#reported;
    return {
      instanceUid: this.ref.instanceUid,
      capabilities: this.#capabilities,
      mayReceiveConfig: true,
      get reported() {
        return reported();
      },
    };
  }

  /** A ServerToAgent carrying `offer` as the remote config (single "" entry, text/yaml). */
  remoteConfigMessage(offer: RemoteConfigOffer): ServerToAgent {
    const msg = create(ServerToAgentSchema, { instanceUid: this.instanceUid ?? new Uint8Array() });
    this.#setRemoteConfig(msg, offer);
    return msg;
  }

  #setRemoteConfig(msg: ServerToAgent, offer: RemoteConfigOffer): void {
    msg.remoteConfig = remoteConfigOf(offer);
    this.#offers.offered(offer.hash, this.#reported?.hash);
  }

  async #attachConfig(reply: ServerToAgent): Promise<void> {
    const facts = this.configFacts();
    if (!facts || !this.ref) return;
    const offer = await this.deps.pusher.offerFor(this.ref.tenantId, facts);
    if (offer) this.#setRemoteConfig(reply, offer);
  }

  async #attachOwnTelemetry(reply: ServerToAgent): Promise<void> {
    if (!this.ref || !this.#mayReceiveConfig() || !acceptsOwnTelemetry(this.#capabilities)) return;
    this.#setOwnTelemetry(reply, await this.deps.ownTelemetry.settingsFor(this.ref.tenantId));
  }

  /** A message offering the tenant's own-telemetry settings, or undefined when nothing changed. */
  ownTelemetryMessage(settings: OwnTelemetrySettings): ServerToAgent | undefined {
    if (!this.instanceUid) return undefined;
    const msg = create(ServerToAgentSchema, { instanceUid: this.instanceUid });
    return this.#setOwnTelemetry(msg, settings) ? msg : undefined;
  }

  /**
   * Puts the own-telemetry offer in `msg` when it differs from the last one sent on this
   * connection. Never beside an OpAMP offer (the key switch): that connection is about to end, and
   * the next one gets the settings. An older generation than one already applied is ignored.
   */
  #setOwnTelemetry(msg: ServerToAgent, settings: OwnTelemetrySettings): boolean {
    if (!this.ref || !this.#mayReceiveConfig() || msg.connectionSettings) return false;
    if (settings.generation < this.#ownTelemetryGeneration) return false;
    this.#ownTelemetryGeneration = settings.generation;
    if (!settings.destinations) return false;
    const built = ownTelemetryOffer(this.#capabilities, settings.destinations);
    if (!built || built.hashHex === this.#ownTelemetryHash) return false;
    this.#ownTelemetryHash = built.hashHex;
    msg.connectionSettings = built.offer;
    return true;
  }

  /**
   * A message offering a freshly minted key on this live connection (admin key rotation), or
   * undefined when the agent cannot take it.
   */
  async keyRotationOffer(): Promise<ServerToAgent | undefined> {
    if (this.state !== "active" || !this.ref || !this.instanceUid) return undefined;
    if (!hasCapability(this.#capabilities, AgentCapability.AcceptsOpAMPConnectionSettings)) return undefined;
    const key = await this.deps.sessions.mintKey(this.ref);
    const msg = create(ServerToAgentSchema, { instanceUid: this.instanceUid });
    this.#addOffer(msg, key);
    return msg;
  }

  /** The restart command, or undefined when the agent cannot take it on this connection. */
  restartCommand(): ServerToAgent | undefined {
    if (this.state !== "active" || !this.instanceUid) return undefined;
    if (!hasCapability(this.#capabilities, AgentCapability.AcceptsRestartCommand)) return undefined;
    return restartCommandMessage(this.instanceUid);
  }

  /**
   * Ends the session once: the agent is offline from now on (unless a newer connection holds
   * it). `reason` says why, for the log line (the agent's goodbye, a close code, a poll timeout,
   * a replacement by a newer connection, the server stopping).
   */
  async end(reason: string): Promise<void> {
    const wasActive = this.state === "active" || this.state === "held";
    this.state = "closed";
    if (!wasActive || !this.ref) return;
    // After a key offer, the agent leaves to come back with its key (see AgentSessions.end).
    // A stopping server marks all its agents offline in one statement and logs once.
    if (this.deps.isStopping()) return;
    const switchingKeys = this.#keyOffered && reason === "agent_disconnect";
    await this.deps.sessions.end(this.ref, this.connectionId, switchingKeys);
    this.deps.logger.info(
      { tenantId: this.ref.tenantId, instanceUid: this.ref.instanceUid, transport: this.transport, reason },
      switchingKeys ? "agent left to switch to its own key" : "agent connection ended",
    );
  }
}
