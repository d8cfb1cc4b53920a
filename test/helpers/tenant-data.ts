/**
 * A tenant with one of everything, so that every path parameter of the REST API can point at a
 * real row: an agent enrolled over OpAMP (holding its own key, running its config), a template
 * with two revisions, an assignment, a secret, an enrollment token, a spare API key and a
 * finished rollout. Templates, assignments and secrets share one name, so `{name}` means a real
 * row whichever resource the path is about.
 */
import { expect } from "vitest";
import type { ManualClock } from "../../src/clock.js";
import { createTenant, eventually, type TenantFixture } from "./fleet.js";
import { type ApiClient, apiClient } from "./http.js";
import type { TestAgent } from "./opamp/supervisor.js";
import { collectorConfig, configsSent } from "./rollouts.js";
import type { TestServer } from "./server.js";

export const SHARED_NAME = "base";

export interface TenantData {
  fleet: TenantFixture;
  tenantId: string;
  agent: TestAgent;
  /** Keys of the tenant by role (plaintext). */
  keys: { viewer: string; editor: string; admin: string };
  /** A client per role. */
  as: { viewer: ApiClient; editor: ApiClient; admin: ApiClient };
  /** The value of every path parameter the API uses, pointing at this tenant's rows. */
  params: Record<string, string>;
}

/** Creates the tenant and its rows; with a ManualClock, the rollout is driven on it. */
export async function createTenantData(
  srv: TestServer,
  displayName: string,
  clock?: ManualClock,
): Promise<TenantData> {
  const fleet = await createTenant(srv, displayName);
  const { tenantId, api } = fleet;
  const t = (suffix: string) => `/api/v1/tenants/${tenantId}${suffix}`;
  const ok = async (res: Promise<{ status: number; body: unknown }>, status: number) => {
    const r = await res;
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    // biome-ignore lint/suspicious/noExplicitAny: fixture reads ids from JSON answers.
    return r.body as any;
  };

  const key = async (role: string) =>
    (await ok(api.post(t("/api-keys"), { name: role, role }), 201)) as { id: string; key: string };
  const viewer = await key("viewer");
  const editor = await key("editor");
  const admin = await key("admin");
  const spare = await key("viewer");

  await ok(api.put(t(`/secrets/${SHARED_NAME}`), { value: "s3cret-value" }), 201);
  await ok(api.put(t(`/config-templates/${SHARED_NAME}`), { content: collectorConfig(4317) }), 201);
  await ok(
    api.put(t(`/assignments/${SHARED_NAME}`), {
      selector: "env=prod",
      template: SHARED_NAME,
      revision: 1,
    }),
    201,
  );
  await ok(
    api.put(t("/own-telemetry"), {
      metrics: {
        endpoint: "https://otlp.example.com/v1/metrics",
        headers: { authorization: { secret: SHARED_NAME, prefix: "Bearer " } },
      },
    }),
    201,
  );
  const agent = await fleet.enrolledAgent({}, { labels: { env: "prod" } });
  await eventually(async () => (configsSent(agent).length >= 1 ? true : undefined), 10_000, "first config");
  const token = await fleet.enrollmentToken({ name: "spare" });

  // A rollout to revision 2, driven to its end, so that its id is real and nothing moves later.
  await ok(api.put(t(`/config-templates/${SHARED_NAME}`), { content: collectorConfig(4318) }), 201);
  const rollout = await ok(
    api.post(t("/rollouts"), {
      assignment: SHARED_NAME,
      revision: 2,
      strategy: { canary: 1, waves: ["100%"], bakeSeconds: 1, maxFailures: 0 },
    }),
    201,
  );
  await eventually(
    async () => {
      if (clock) await clock.advance(1_000);
      const r = await api.get(t(`/rollouts/${rollout.id}`));
      return r.body.state === "completed" ? true : undefined;
    },
    20_000,
    "the rollout to complete",
  );
  await eventually(
    async () => {
      const r = await api.get(t(`/agents/${agent.instanceUidString}/deliveries`));
      return r.body.items[0]?.status === "applied" && r.body.items[0]?.revision?.version === 2
        ? true
        : undefined;
    },
    10_000,
    "revision 2 applied",
  );

  return {
    fleet,
    tenantId,
    agent,
    keys: { viewer: viewer.key, editor: editor.key, admin: admin.key },
    as: {
      viewer: apiClient(srv.url, viewer.key),
      editor: apiClient(srv.url, editor.key),
      admin: apiClient(srv.url, admin.key),
    },
    params: {
      tenantId,
      instanceUid: agent.instanceUidString,
      name: SHARED_NAME,
      version: "1",
      keyId: spare.id,
      tokenId: token.id,
      id: rollout.id,
    },
  };
}
