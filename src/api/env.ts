import type { Actor } from "../fleet/actor.js";

/** The check agent-scoped routes' guard calls (src/api/access.ts): 404 unless the tenant has the agent. */
export interface AgentScope {
  requireAgent(actor: Actor, tenantId: string, instanceUid: string): Promise<void>;
}

/** Per-request values set by middleware. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    actor: Actor;
    agentScope: AgentScope;
  };
}
