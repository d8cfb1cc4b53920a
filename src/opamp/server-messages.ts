/**
 * The parts of ServerToAgent messages the server builds, as pure functions: the OpAMP
 * connection-settings offer (the agent's own key), the remote config, the uid assignment and the
 * restart command. Sessions decide when to send them; this module says how they look on the wire.
 */
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { RemoteConfigOffer } from "../fleet/configs/planner.js";
import { CommandType, type ServerToAgent, ServerToAgentSchema } from "../gen/opamp/v1/opamp_pb.js";
import { ServerCapability } from "../protocol/capabilities.js";

/** What this server offers, sent in the first reply of every connection. */
export const SERVER_CAPABILITIES =
  ServerCapability.AcceptsStatus |
  ServerCapability.OffersRemoteConfig |
  ServerCapability.AcceptsEffectiveConfig |
  ServerCapability.OffersConnectionSettings;

/**
 * The connection-settings offer of the agent's own key: every header it needs (the supervisor
 * replaces its headers with exactly these), the full endpoint and a non-zero heartbeat (0 stops
 * WebSocket heartbeats and takes HTTP supervisors ≤ v0.158 offline), with a stable hash.
 */
export function opampConnectionOffer(o: {
  endpoint: string;
  key: string;
  heartbeatIntervalSeconds: number;
  caCert: Uint8Array | undefined;
}): ServerToAgent["connectionSettings"] {
  const headers = [{ key: "Authorization", value: `Bearer ${o.key}` }];
  const heartbeat = BigInt(o.heartbeatIntervalSeconds);
  const hash = createHash("sha256")
    .update(JSON.stringify([o.endpoint, headers.map((h) => [h.key, h.value]), heartbeat.toString()]))
    .update(o.caCert ?? new Uint8Array())
    .digest();
  return create(ServerToAgentSchema, {
    connectionSettings: {
      hash,
      opamp: {
        destinationEndpoint: o.endpoint,
        headers: { headers },
        heartbeatIntervalSeconds: heartbeat,
        // Only the CA: the supervisor then sets just its CA pool (no client certificate), and keeps
        // verifying the server; without it, it switches to InsecureSkipVerify (brief §4.5.6).
        ...(o.caCert ? { certificate: { caCert: o.caCert } } : {}),
      },
    },
  }).connectionSettings;
}

/** The remote config of an offer: a single "" entry of type text/yaml, with its hash. */
export function remoteConfigOf(offer: RemoteConfigOffer): ServerToAgent["remoteConfig"] {
  return create(ServerToAgentSchema, {
    remoteConfig: {
      config: { configMap: { "": { body: Buffer.from(offer.yaml, "utf8"), contentType: "text/yaml" } } },
      configHash: Buffer.from(offer.hash, "hex"),
    },
  }).remoteConfig;
}

/** `agent_identification.new_instance_uid`. */
export function agentIdentificationOf(newUid: Uint8Array): ServerToAgent["agentIdentification"] {
  return create(ServerToAgentSchema, { agentIdentification: { newInstanceUid: newUid } }).agentIdentification;
}

/**
 * The restart command. The spec allows nothing besides instance_uid and capabilities with a
 * command (opamp-go drops every other field of such a message).
 */
export function restartCommandMessage(instanceUid: Uint8Array): ServerToAgent {
  return create(ServerToAgentSchema, {
    instanceUid,
    capabilities: SERVER_CAPABILITIES,
    command: { type: CommandType.CommandType_Restart },
  });
}
