/**
 * The agents this replica holds, by (tenant, instance_uid). A new connection for an agent
 * replaces the old one: the supervisor's reconnect (after a connection-settings switch or a
 * network blip) can arrive before the old socket's close has been processed.
 */
import type { AgentRef } from "../fleet/agents/sessions.js";
import type { AgentToServer, ServerToAgent } from "../gen/opamp/v1/opamp_pb.js";
import { CLOSE } from "./errors.js";
import type { AgentSession, HandleResult } from "./session.js";

/** A connected agent as the rest of the server can address it. */
export interface AgentEndpoint {
  readonly session: AgentSession;
  /** Sends (WebSocket) or queues for the next poll (HTTP), in order with replies. */
  push(msg: ServerToAgent): void;
  /** Closes the connection (WebSocket close code; HTTP sessions just end). */
  close(code: number, reason: string): void;
}

function keyOf(ref: AgentRef): string {
  return `${ref.tenantId}/${ref.instanceUid}`;
}

export class ConnectionRegistry {
  readonly #byAgent = new Map<string, AgentEndpoint>();

  /** Registers `endpoint` for `ref`; returns the endpoint it replaced, if any. */
  claim(ref: AgentRef, endpoint: AgentEndpoint): AgentEndpoint | undefined {
    const key = keyOf(ref);
    const previous = this.#byAgent.get(key);
    this.#byAgent.set(key, endpoint);
    return previous === endpoint ? undefined : previous;
  }

  /** Forgets `endpoint`, unless a newer endpoint already holds the agent. */
  release(ref: AgentRef, endpoint: AgentEndpoint): void {
    const key = keyOf(ref);
    if (this.#byAgent.get(key) === endpoint) this.#byAgent.delete(key);
  }

  /**
   * Handles one message on `endpoint`'s session, and, when it was the session's first and the
   * session now holds its agent (active or held), registers the endpoint for that agent: the
   * older connection of the same agent is closed as replaced. Both transports go through here.
   */
  async handle(endpoint: AgentEndpoint, msg: AgentToServer): Promise<HandleResult & { claimed: boolean }> {
    const { session } = endpoint;
    const wasNew = session.state === "new";
    const result = await session.handle(msg);
    const claimed =
      wasNew && session.ref !== undefined && (session.state === "active" || session.state === "held");
    if (claimed && session.ref) {
      const replaced = this.claim(session.ref, endpoint);
      replaced?.close(CLOSE.normal, "replaced by a newer connection");
    }
    return { ...result, claimed };
  }

  get(ref: AgentRef): AgentEndpoint | undefined {
    return this.#byAgent.get(keyOf(ref));
  }

  get size(): number {
    return this.#byAgent.size;
  }

  all(): AgentEndpoint[] {
    return [...this.#byAgent.values()];
  }
}
