/**
 * Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, the server exports OTLP/HTTP spans of REST
 * requests, OpAMP messages and database statements (children of the request that ran them) to a
 * real receiver (a node http server here). Secret values never travel in a span.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tracingEnabled } from "../../src/tracing.js";
import { createTenant } from "../helpers/fleet.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
}

let receiver: Server;
const bodies: string[] = [];
let endpoint: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces")
        bodies.push(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

function spansOf(payloads: string[]): ExportedSpan[] {
  return payloads.flatMap((b) =>
    (JSON.parse(b).resourceSpans ?? []).flatMap((rs: { scopeSpans?: Array<{ spans?: ExportedSpan[] }> }) =>
      (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []),
    ),
  );
}

const attribute = (s: ExportedSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
};

describe("OpenTelemetry traces", () => {
  let srv: TestServer | undefined;

  it("are off by default", async () => {
    const plain = await startTestServer();
    try {
      expect(tracingEnabled()).toBe(false);
      expect((await fetch(`${plain.url}/healthz`)).status).toBe(200);
    } finally {
      await plain.stop();
    }
    expect(bodies).toHaveLength(0);
  });

  it("export a REST request with its database statements, and an OpAMP message, to the OTLP endpoint", async () => {
    srv = await startTestServer({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "agent-api-test" },
    });
    expect(tracingEnabled()).toBe(true);
    const fleet = await createTenant(srv, "Traced");
    const secret = await fleet.api.put(`/api/v1/tenants/${fleet.tenantId}/secrets/db-password`, {
      value: "never-in-a-span-7f3a",
    });
    expect(secret.status).toBe(201);
    await fleet.enrolledAgent();
    await fleet.stopAgents();
    await srv.stop(); // flushes what is buffered
    expect(tracingEnabled()).toBe(false);

    const spans = spansOf(bodies);
    const rest = spans.find((s) => s.name === "POST /api/v1/tenants");
    expect(rest).toBeDefined();
    expect(attribute(rest as ExportedSpan, "http.route")).toBe("/api/v1/tenants");
    expect(attribute(rest as ExportedSpan, "http.response.status_code")).toBe(201);
    // The tenant's INSERT ran inside that request: a child span of it, in the same trace.
    const statements = spans.filter((s) => s.parentSpanId === rest?.spanId);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.every((s) => s.traceId === rest?.traceId)).toBe(true);
    expect(statements.some((s) => /insert into "tenants"/i.test(String(attribute(s, "db.query.text"))))).toBe(
      true,
    );
    expect(statements.every((s) => attribute(s, "db.system.name") === "postgresql")).toBe(true);

    const opamp = spans.filter((s) => s.name === "opamp.message");
    expect(opamp.length).toBeGreaterThanOrEqual(2); // enrollment connection, then the agent's own key
    expect(attribute(opamp[0] as ExportedSpan, "opamp.transport")).toBe("websocket");
    expect(spans.some((s) => s.parentSpanId === opamp[0]?.spanId)).toBe(true);

    const all = bodies.join("\n");
    expect(all).toContain("agent-api-test");
    expect(all).not.toContain("never-in-a-span-7f3a");
    expect(all).not.toContain(srv.operatorKey);
  });

  afterAll(async () => {
    await srv?.stop();
  });
});
