/**
 * Rollout test helpers: a fleet of supervisor-like test agents whose collector refuses any config
 * containing a marker, and a loop that moves a ManualClock on a second at a time while the real
 * agents answer in real time.
 */
import type { ManualClock } from "../../src/clock.js";
import type { TenantFixture } from "./fleet.js";
import type { TestAgent } from "./opamp/supervisor.js";

/** A config containing this is refused by the test agents' "collector". */
export const REFUSED = "# refused-by-collector";

/** A small collector config whose OTLP port tells revisions apart. */
export const collectorConfig = (port: number, extra = "") => `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:${port}
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
${extra}`;

/** `count` agents enrolled with `labels`, each applying configs (and refusing REFUSED ones). */
export async function rolloutFleet(
  fleet: TenantFixture,
  count: number,
  labels: Record<string, string>,
  opts: { url?: string } = {},
): Promise<TestAgent[]> {
  const { token } = await fleet.enrollmentToken({ labels });
  const agents = Array.from({ length: count }, () =>
    fleet.agent({
      token,
      ...(opts.url ? { url: opts.url } : {}),
      applyConfig: (config) =>
        config.get("")?.body.includes(REFUSED)
          ? { ok: false, error: "collector refused the config" }
          : { ok: true },
    }),
  );
  await Promise.all(
    agents.map(async (a) => {
      await a.start();
      await a.waitForConnection(2);
      await a.settle();
    }),
  );
  return agents;
}

/** The YAML bodies an agent was sent, in order. */
export function configsSent(agent: TestAgent): string[] {
  return agent.received.flatMap((m) => {
    const body = m.remoteConfig?.config?.configMap[""]?.body;
    return body ? [Buffer.from(body).toString("utf8")] : [];
  });
}

/**
 * Advances the clock a second at a time (with a short real pause for the agents and the
 * database) until `done` returns a value.
 */
export async function driveUntil<T>(
  clock: ManualClock,
  done: () => Promise<T | undefined>,
  opts: { maxSeconds?: number; stepMs?: number; what?: string } = {},
): Promise<T> {
  const max = opts.maxSeconds ?? 60;
  for (let i = 0; i <= max; i++) {
    const v = await done();
    if (v !== undefined) return v;
    await clock.advance(opts.stepMs ?? 1_000);
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out driving the rollout until ${opts.what ?? "the condition"}`);
}
