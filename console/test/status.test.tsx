import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { Badge } from "../src/components/ui";
import { waveProgress } from "../src/lib/rollouts";
import { agentBadge, deliveryBadge, healthRows, shortUid } from "../src/lib/status";

const agent = { status: "online" as const, attention: null, drift: false, driftReason: null };

describe("status badges", () => {
  it("shows the worst fact first: revoked, attention, drift, offline, online", () => {
    expect(agentBadge({ ...agent, attention: "revoked", drift: true }).label).toBe("revoked");
    expect(agentBadge({ ...agent, attention: "needs_accepts_opamp_connection_settings" }).label).toBe(
      "attention",
    );
    expect(agentBadge({ ...agent, status: "offline", drift: true, driftReason: "runs base@1" })).toEqual({
      label: "drift",
      tone: "warn",
      title: "runs base@1",
    });
    expect(agentBadge({ ...agent, status: "offline" }).label).toBe("offline");
    expect(agentBadge(agent)).toMatchObject({ label: "online", tone: "ok" });
  });

  it("shortens a uid to both ends, since UUIDv7s enrolled together share their first digits", () => {
    expect(shortUid("01a23804-be6b-700a-9f96-54701fdc04e0")).toBe("01a23804…04e0");
    expect(shortUid("01a23804-be6b-700a-9f96-54701fdc1111")).toBe("01a23804…1111");
  });

  it("renders a badge with its tone class and the reason as a tooltip", () => {
    const html = renderToStaticMarkup(<Badge badge={deliveryBadge("failed")} />);
    expect(html).toBe('<span class="badge badge-bad" title="failed">failed</span>');
    expect(renderToStaticMarkup(<Badge badge={deliveryBadge("applying", true)} />)).toContain(
      "applying (stalled)",
    );
  });

  it("lists component health depth first, children sorted", () => {
    const rows = healthRows({
      healthy: false,
      status: "StatusRecoverableError",
      lastError: "",
      components: {
        "pipeline:traces": {
          healthy: false,
          status: "x",
          lastError: "export failed",
          components: {
            "exporter:otlp": { healthy: false, status: "x", lastError: "refused", components: {} },
          },
        },
        "extension:health_check": { healthy: true, status: "ok", lastError: "", components: {} },
      },
    });
    expect(rows.map((r) => [r.name, r.depth, r.healthy])).toEqual([
      ["agent", 0, false],
      ["extension:health_check", 1, true],
      ["pipeline:traces", 1, false],
      ["exporter:otlp", 2, false],
    ]);
    expect(healthRows(null)).toEqual([]);
  });
});

describe("rollout waves", () => {
  it("fills the canary, then each wave, with finished agents", () => {
    const waves = waveProgress({
      waveTargets: [1, 5, 10],
      currentWave: 1,
      state: "running",
      counts: { succeeded: 3, failed: 0, rolledBack: 0 },
    });
    expect(waves).toEqual([
      { name: "canary", size: 1, finished: 1, phase: "done" },
      { name: "wave 1", size: 4, finished: 2, phase: "current" },
      { name: "wave 2", size: 5, finished: 0, phase: "waiting" },
    ]);
  });
});
