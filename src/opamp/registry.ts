/**
 * The agents this replica holds, by (tenant, instance_uid). A new connection for an agent
 * replaces the old one: the supervisor's reconnect (after a connection-settings switch or a
 * network blip) can arrive before the old socket's close has been processed.
 */
import type { AgentRef } from "../fleet/agents/service.js";
import type { ServerToAgent } from "../gen/opamp/v1/opamp_pb.js";
import type { AgentSession } from "./session.js";

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
