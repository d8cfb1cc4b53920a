import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkOwnTelemetry,
  type OwnTelemetryDestinations,
  type StoredOwnTelemetry,
} from "../../src/fleet/own-telemetry/settings.js";
import { AgentCapability } from "../../src/opamp/codec.js";
import { ownTelemetryOffer } from "../../src/opamp/own-telemetry-offer.js";

const ALL =
  AgentCapability.ReportsOwnMetrics | AgentCapability.ReportsOwnLogs | AgentCapability.ReportsOwnTraces;

const destination = fc.record({
  endpoint: fc.webUrl(),
  headers: fc.array(fc.record({ key: fc.string({ maxLength: 8 }), value: fc.string({ maxLength: 8 }) }), {
    maxLength: 3,
  }),
});
const destinations: fc.Arbitrary<OwnTelemetryDestinations> = fc.record(
  { metrics: destination, logs: destination, traces: destination },
  { requiredKeys: [] },
);

describe("the own-telemetry offer", () => {
  it("has the same hash for the same settings and a different one when any offered setting differs", () => {
    fc.assert(
      fc.property(destinations, destinations, (a, b) => {
        const ha = ownTelemetryOffer(ALL, a)?.hashHex;
        const hb = ownTelemetryOffer(ALL, b)?.hashHex;
        expect(ha).toBe(ownTelemetryOffer(ALL, structuredClone(a))?.hashHex);
        expect(ha === hb).toBe(sameOffered(a, b));
      }),
    );
  });

  it("carries only the signals the agent can take, never an OpAMP part, the others empty", () => {
    fc.assert(
      fc.property(destinations, fc.subarray(["metrics", "logs", "traces"] as const), (d, signals) => {
        const bit = {
          metrics: AgentCapability.ReportsOwnMetrics,
          logs: AgentCapability.ReportsOwnLogs,
          traces: AgentCapability.ReportsOwnTraces,
        };
        const caps = signals.reduce((acc, s) => acc | bit[s], AgentCapability.ReportsStatus);
        const built = ownTelemetryOffer(caps, d);
        if (signals.length === 0) {
          expect(built).toBeUndefined();
          return;
        }
        const offer = built?.offer;
        expect(offer?.opamp).toBeUndefined();
        const field = { metrics: offer?.ownMetrics, logs: offer?.ownLogs, traces: offer?.ownTraces };
        for (const s of ["metrics", "logs", "traces"] as const) {
          if (!signals.includes(s)) expect(field[s]).toBeUndefined();
          else expect(field[s]?.destinationEndpoint).toBe(d[s]?.endpoint ?? "");
        }
      }),
    );
  });

  it("does not change its hash when a signal the agent cannot take changes", () => {
    const base = { metrics: { endpoint: "https://a/v1/metrics", headers: [] } };
    const withLogs = { ...base, logs: { endpoint: "https://a/v1/logs", headers: [] } };
    const metricsOnly = AgentCapability.ReportsOwnMetrics;
    expect(ownTelemetryOffer(metricsOnly, base)?.hashHex).toBe(
      ownTelemetryOffer(metricsOnly, withLogs)?.hashHex,
    );
    expect(ownTelemetryOffer(ALL, base)?.hashHex).not.toBe(ownTelemetryOffer(ALL, withLogs)?.hashHex);
  });
});

/** Whether two settings offer the same thing (what the hash must tell apart). */
function sameOffered(a: OwnTelemetryDestinations, b: OwnTelemetryDestinations): boolean {
  const norm = (d: OwnTelemetryDestinations) =>
    JSON.stringify(
      (["metrics", "logs", "traces"] as const).map((s) => {
        const x = d[s];
        return x ? [x.endpoint, x.headers.map((h) => [h.key, h.value])] : null;
      }),
    );
  return norm(a) === norm(b);
}

describe("own-telemetry settings checks", () => {
  it("never accepts a header value or endpoint the supervisor's YAML template could not carry", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (endpoint, value) => {
        const input: StoredOwnTelemetry = { logs: { endpoint, headers: { "x-v": value } } };
        const { settings, issues } = checkOwnTelemetry(input);
        if (issues.length > 0) return;
        const logs = settings.logs;
        expect(logs?.endpoint).toMatch(/^https?:\/\//);
        expect(logs?.endpoint).not.toMatch(/[\s"\\$#]/);
        expect(logs?.headers["x-v"]).toMatch(/^[\x20-\x7e]*$/);
        expect(logs?.headers["x-v"]).not.toMatch(/["\\$]/);
      }),
    );
  });

  it("names every secret referenced with the path of its reference", () => {
    const { secrets, issues } = checkOwnTelemetry({
      metrics: {
        endpoint: "https://a/v1/metrics",
        headers: { authorization: { secret: "k1", prefix: "Bearer " } },
      },
      traces: { endpoint: "https://a/v1/traces", headers: { "x-key": { secret: "k2" } } },
    });
    expect(issues).toEqual([]);
    expect(secrets).toEqual([
      { name: "k1", path: "metrics.headers.authorization.secret" },
      { name: "k2", path: "traces.headers.x-key.secret" },
    ]);
  });
});
