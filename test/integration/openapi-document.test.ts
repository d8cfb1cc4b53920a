/**
 * The OpenAPI document says what the server enforces: the label rules on every labels field,
 * and the Idempotency-Key header on every POST (with a real retry replayed as documented).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LABELS } from "../../src/fleet/labels.js";
import { apiClient } from "../helpers/http.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is read as plain JSON
type Json = any;
let srv: TestServer;
let doc: Json;

beforeAll(async () => {
  srv = await startTestServer();
  doc = await (await fetch(`${srv.url}/openapi.json`)).json();
});
afterAll(() => srv?.stop());

/** Every schema object in the document, walked depth-first. */
function* schemas(node: Json): Generator<Json> {
  if (node === null || typeof node !== "object") return;
  yield node;
  for (const value of Object.values(node)) yield* schemas(value);
}

describe("the OpenAPI document", () => {
  it("documents Idempotency-Key on every POST operation", () => {
    const posts = Object.entries(doc.paths).flatMap(([path, ops]: [string, Json]) =>
      ops.post ? [{ path, op: ops.post }] : [],
    );
    expect(posts.length).toBeGreaterThanOrEqual(13);
    for (const { path, op } of posts) {
      const header = (op.parameters ?? []).find(
        (p: Json) => p.in === "header" && p.name === "Idempotency-Key",
      );
      expect(header, path).toBeDefined();
      expect(header.required ?? false).toBe(false);
      expect(header.description).toMatch(/Idempotent-Replayed: true/);
    }
  });

  it("states the label rules wherever labels are accepted", () => {
    const labelSchemas = [...schemas(doc)].filter(
      (s) => typeof s.description === "string" && s.description.startsWith(`At most ${MAX_LABELS} labels`),
    );
    expect(labelSchemas.length).toBeGreaterThan(0);
    for (const s of labelSchemas) {
      expect(s.maxProperties).toBe(MAX_LABELS);
      expect(s.additionalProperties).toMatchObject({ type: "string", maxLength: 63 });
      expect(s.description).toMatch(/DNS subdomain/);
    }
    const tokenBody = doc.paths["/api/v1/tenants/{tenantId}/enrollment-tokens"].post.requestBody;
    expect(JSON.stringify(tokenBody)).toContain(`At most ${MAX_LABELS} labels`);
  });

  it("behaves as documented: a retried POST with the same key is replayed, not run twice", async () => {
    const op = apiClient(srv.url, srv.operatorKey);
    const headers = { "Idempotency-Key": "retry-7f0c" };
    const first = await op.post("/api/v1/tenants", { displayName: "Once" }, { headers });
    const again = await op.post("/api/v1/tenants", { displayName: "Once" }, { headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.body.id);
    const other = await op.post("/api/v1/tenants", { displayName: "Another" }, { headers });
    expect(other.status).toBe(409);
    const bad = await op.post(
      "/api/v1/tenants",
      { displayName: "Bad" },
      { headers: { "Idempotency-Key": "" } },
    );
    expect(bad.status).toBe(400);
  });
});
