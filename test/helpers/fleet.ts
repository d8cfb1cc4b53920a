/** Shortcuts for tests that need a tenant, a token and agents on a running test server. */
import { type ApiClient, apiClient } from "./http.js";
import type { TestAgentOptions } from "./opamp/agent-options.js";
import { TestAgent } from "./opamp/supervisor.js";
import type { TestServer } from "./server.js";

export interface TenantFixture {
  tenantId: string;
  api: ApiClient;
  /** A fresh enrollment token (plaintext) of the tenant. */
  enrollmentToken(body?: Record<string, unknown>): Promise<{ id: string; token: string }>;
  opampUrl: string;
  opampHttpUrl: string;
  /** A test agent on this server's WebSocket endpoint (by default), stopped by stopAgents(). */
  agent(opts: Partial<TestAgentOptions> & { token: string }): TestAgent;
  /** An agent enrolled with a fresh token and switched to its own key (two connections, settled). */
  enrolledAgent(opts?: Partial<TestAgentOptions>, tokenBody?: Record<string, unknown>): Promise<TestAgent>;
  /** Stops every agent made by agent()/enrolledAgent() so far. */
  stopAgents(): Promise<void>;
}

export async function createTenant(
  srv: Pick<TestServer, "url" | "port" | "operatorKey">,
  displayName = "Fleet Test",
): Promise<TenantFixture> {
  const op = apiClient(srv.url, srv.operatorKey);
  const tenant = await op.post("/api/v1/tenants", { displayName });
  if (tenant.status !== 201) throw new Error(`tenant: ${tenant.status} ${JSON.stringify(tenant.body)}`);
  const tenantId: string = tenant.body.id;
  const opampUrl = `ws://127.0.0.1:${srv.port}/v1/opamp`;
  const agents: TestAgent[] = [];
  const agent = (opts: Partial<TestAgentOptions> & { token: string }): TestAgent => {
    const a = new TestAgent({ url: opampUrl, ...opts });
    agents.push(a);
    return a;
  };
  const fixture: TenantFixture = {
    tenantId,
    api: op,
    async enrollmentToken(body = {}) {
      const res = await op.post(`/api/v1/tenants/${tenantId}/enrollment-tokens`, { name: "hosts", ...body });
      if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
      return { id: res.body.id, token: res.body.token };
    },
    opampUrl,
    opampHttpUrl: `http://127.0.0.1:${srv.port}/v1/opamp`,
    agent,
    async enrolledAgent(opts = {}, tokenBody = {}) {
      const { token } = await fixture.enrollmentToken(tokenBody);
      const a = agent({ token, ...opts });
      await a.start();
      await a.waitForConnection(2);
      await a.settle();
      return a;
    },
    async stopAgents() {
      for (const a of agents.splice(0)) await a.stop().catch(() => undefined);
    },
  };
  return fixture;
}

/** Polls `check` until it returns a value (not undefined) or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 5_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/**
 * The first remote config an agent received after it had received `since` messages. Take
 * `since = agent.received.length` BEFORE the call that causes the push: the push can arrive
 * before that call's HTTP answer does.
 */
export async function configPushedAfter<M extends { remoteConfig?: unknown }>(
  agent: { received: M[] },
  since: number,
  timeoutMs = 3_000,
): Promise<M> {
  return eventually(
    async () => agent.received.slice(since).find((m) => m.remoteConfig !== undefined),
    timeoutMs,
    "a remote config push",
  );
}
