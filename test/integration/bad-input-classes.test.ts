/**
 * Bad input, by class, walked over every operation of /openapi.json: each class of input the
 * database or the protocol cannot take is refused with problem+json naming the field, and the
 * stored state is byte-for-byte what it was. A new operation, parameter or body field is covered
 * by construction (a body operation without a fixture below fails the walk).
 */
import { connect, type Socket } from "node:net";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INT32_MAX } from "../../src/api/schemas.js";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import type { Json } from "../helpers/http.js";
import type { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const CONTENT =
  "receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";

/** A valid body for every operation that takes one ("METHOD /path" as in /openapi.json). */
const BODIES: Record<string, unknown> = {
  "POST /api/v1/tenants": { displayName: "Other" },
  "POST /api/v1/tenants/{tenantId}/api-keys": { name: "ci key", role: "viewer" },
  "POST /api/v1/tenants/{tenantId}/enrollment-tokens": { name: "hosts", labels: { env: "prod" }, maxUses: 5 },
  "PATCH /api/v1/tenants/{tenantId}/agents/{instanceUid}": { labels: { env: "staging" } },
  "POST /api/v1/tenants/{tenantId}/agents/restart": { selector: "env=none" },
  "PUT /api/v1/tenants/{tenantId}/config-templates/{name}": {
    content: CONTENT,
    description: "d",
    message: "m",
  },
  "POST /api/v1/tenants/{tenantId}/config-templates/{name}/revisions": { content: CONTENT, message: "m" },
  "PUT /api/v1/tenants/{tenantId}/assignments/{name}": {
    selector: "env=prod",
    template: "base",
    revision: 1,
    priority: 5,
    description: "d",
  },
  "POST /api/v1/tenants/{tenantId}/deliveries/retry": { template: "base", version: 1 },
  "POST /api/v1/tenants/{tenantId}/apply": {
    source: "git:acme/fleet",
    templates: [{ name: "base", content: CONTENT, description: "d" }],
    assignments: [{ name: "everyone", selector: "", template: "base", revision: 1, description: "d" }],
  },
  "PUT /api/v1/tenants/{tenantId}/secrets/{name}": { value: "s3cr3t-value" },
  "PUT /api/v1/tenants/{tenantId}/own-telemetry": {
    metrics: {
      endpoint: "https://otlp.example.com/v1/metrics",
      headers: { "x-scope-orgid": "acme", authorization: { secret: "otlp_token", prefix: "Bearer " } },
    },
  },
  "POST /api/v1/tenants/{tenantId}/rollouts": {
    assignment: "everyone",
    revision: 1,
    strategy: { waves: ["50%", "100%"], bakeSeconds: 60 },
  },
};

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  schema: Json;
  example?: unknown;
}
interface Operation {
  method: string;
  path: string;
  key: string;
  parameters: Parameter[];
  bodySchema: Json | undefined;
}

let srv: TestServer;
let fleet: TenantFixture;
let agent: TestAgent;
let doc: Json;
let operations: Operation[];
const ids: Record<string, string> = {};

/** The tables whose digest differs (for readable failures). */
function changed(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys({ ...before, ...after }).filter((k) => before[k] !== after[k]);
}

/** A digest of every stored row, per table (tables only time moves are left out). */
async function storedState(): Promise<Record<string, string>> {
  const { db } = srv.ctx.database;
  const tables = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE'
      and table_name not in ('replicas', 'kysely_migration', 'kysely_migration_lock', 'agents',
                             'agent_enrollment_tokens')
    order by table_name`.execute(db);
  const out: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const r = await sql<{ digest: string | null }>`
      select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as digest
      from ${sql.table(name)} t`.execute(db);
    out[name] = r.rows[0]?.digest ?? "";
  }
  // Agents: what a request could change (labels, revocation, existence), not liveness.
  const agents = await sql<{ digest: string }>`
    select md5(coalesce(string_agg(instance_uid || labels::text || coalesce(revoked_at::text, ''), '|'
      order by instance_uid), '')) as digest from agents`.execute(db);
  out.agents = agents.rows[0]?.digest ?? "";
  // Enrollment tokens: not their use counters, which sessions flush on their own.
  const tokens = await sql<{ digest: string }>`
    select md5(coalesce(string_agg(id || name || coalesce(revoked_at::text, ''), '|' order by id), ''))
      as digest from agent_enrollment_tokens`.execute(db);
  out.agent_enrollment_tokens = tokens.rows[0]?.digest ?? "";
  return out;
}

function deref(schema: Json): Json {
  if (schema && typeof schema === "object" && typeof schema.$ref === "string") {
    const name = schema.$ref.replace("#/components/schemas/", "");
    return deref(doc.components.schemas[name]);
  }
  return schema;
}

function pathValue(op: Operation, name: string): string {
  if (name === "name") {
    if (op.path.includes("/secrets/")) return "otlp_token";
    if (op.path.includes("/assignments/")) return "everyone";
    return "base";
  }
  const known: Record<string, string> = {
    tenantId: fleet.tenantId,
    instanceUid: agent.instanceUidString,
    version: "1",
    keyId: ids.keyId ?? "",
    tokenId: ids.tokenId ?? "",
    id: "rol_00000000000000000000000000",
  };
  const value = known[name];
  if (value === undefined) throw new Error(`no value for path parameter ${name} of ${op.key}`);
  return value;
}

function urlOf(op: Operation, override: Record<string, string> = {}, query = ""): string {
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent(override[name] ?? pathValue(op, name)),
  );
  return `${srv.url}${path}${query}`;
}

async function send(
  op: Operation,
  init: {
    path?: Record<string, string>;
    query?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; headers: Headers; body: Json }> {
  const body = init.body ?? (op.bodySchema ? BODIES[op.key] : undefined);
  const res = await fetch(urlOf(op, init.path, init.query), {
    method: op.method,
    headers: {
      authorization: `Bearer ${srv.operatorKey}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** Every string leaf of a JSON value with its field path, as the API names paths. */
function leaves(value: unknown, path = ""): { path: string; value: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, path ? `${path}.${k}` : k));
  }
  return [{ path, value }];
}

/** `value` with the leaf at `path` replaced (path as produced by leaves()). */
function replaced(value: unknown, path: string, by: unknown): unknown {
  const copy = structuredClone(value) as Json;
  const steps = path.match(/[^.[\]]+/g) ?? [];
  let node = copy;
  for (const step of steps.slice(0, -1)) node = node[/^\d+$/.test(step) ? Number(step) : step];
  const last = steps.at(-1) ?? "";
  node[/^\d+$/.test(last) ? Number(last) : last] = by;
  return copy;
}

/** Every object inside a JSON value (the root included), with its path. */
function objects(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => objects(v, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return [path, ...Object.entries(value).flatMap(([k, v]) => objects(v, path ? `${path}.${k}` : k))];
  }
  return [];
}

beforeAll(async () => {
  srv = await startTestServer();
  fleet = await createTenant(srv, "Bad input");
  const { api, tenantId } = fleet;
  const t = `/api/v1/tenants/${tenantId}`;
  expect((await api.put(`${t}/config-templates/base`, { content: CONTENT })).status).toBe(201);
  expect((await api.put(`${t}/config-templates/base`, { content: `${CONTENT}# two\n` })).status).toBe(201);
  expect((await api.put(`${t}/assignments/everyone`, { selector: "", template: "base" })).status).toBe(201);
  expect((await api.put(`${t}/secrets/otlp_token`, { value: "s3cr3t-value" })).status).toBe(201);
  const key = await api.post(`${t}/api-keys`, { name: "admin key", role: "admin" });
  ids.keyId = key.body.id;
  ids.tokenId = (await fleet.enrollmentToken()).id;
  const telemetry = { endpoint: "https://otlp.example.com/v1/metrics", headers: {} };
  expect((await api.put(`${t}/own-telemetry`, { metrics: telemetry })).status).toBe(201);
  agent = await fleet.enrolledAgent();
  await createTenant(srv, "Second tenant");
  doc = (await api.get("/openapi.json")).body;
  operations = [];
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        key: `${method.toUpperCase()} ${path}`,
        parameters: (op.parameters ?? []) as Parameter[],
        bodySchema: op.requestBody?.content?.["application/json"]?.schema,
      });
    }
  }
}, 60_000);

afterAll(async () => {
  await fleet?.stopAgents();
  await srv?.stop();
});

describe("the walk covers the API", () => {
  it("has a valid body fixture for every operation that takes a body, each accepted by its schema", async () => {
    const withBody = operations.filter((op) => op.bodySchema).map((op) => op.key);
    expect(withBody.sort()).toEqual(Object.keys(BODIES).sort());
  });
});

describe("text the database cannot store (NUL, unpaired surrogates)", () => {
  it("is a 400 naming the field, for every string leaf of every body, nothing stored", async () => {
    const before = await storedState();
    let checked = 0;
    for (const op of operations.filter((o) => o.bodySchema)) {
      const body = BODIES[op.key];
      for (const leaf of leaves(body).filter((l) => typeof l.value === "string")) {
        for (const bad of ["a\u0000b", "a\ud800b"]) {
          const res = await send(op, { body: replaced(body, leaf.path, bad) });
          expect(res.status, `${op.key} ${leaf.path}`).toBe(400);
          expect(res.headers.get("content-type")).toContain("application/problem+json");
          expect(
            res.body.issues.map((i: Json) => i.path),
            `${op.key} ${leaf.path}`,
          ).toContain(leaf.path);
          checked++;
        }
      }
      // A key is text too (label keys are stored).
      for (const at of objects(body)) {
        const res = await send(op, { body: replaced(body, at ? `${at}.k\u0000ey` : "k\u0000ey", "v") });
        expect(res.status, `${op.key} key in ${at}`).toBe(400);
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(changed(before, await storedState())).toEqual([]);
  }, 120_000);

  it("is a 400 naming the parameter, for every string query and path parameter", async () => {
    const before = await storedState();
    for (const op of operations) {
      for (const p of op.parameters.filter((x) => x.in !== "header" && deref(x.schema).type === "string")) {
        const res =
          p.in === "query"
            ? await send(op, { query: `?${p.name}=${encodeURIComponent("a\u0000b")}` })
            : await send(op, { path: { [p.name]: "a\u0000b" } });
        expect(res.status, `${op.key} ${p.in} ${p.name}`).toBe(400);
        expect(
          res.body.issues.map((i: Json) => i.path),
          `${op.key} ${p.name}`,
        ).toContain(p.name);
      }
    }
    expect(changed(before, await storedState())).toEqual([]);
  }, 120_000);
});

describe("refusals under an Idempotency-Key", () => {
  it("a refusal that echoes unstorable text is answered again, and a kept one replays as problem+json", async () => {
    const post = (body: string, key: string) =>
      fetch(`${srv.url}/api/v1/tenants`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${srv.operatorKey}`,
          "content-type": "application/json",
          "idempotency-key": key,
        },
        body,
      });
    for (let i = 0; i < 2; i++) {
      const res = await post('{"displayName":"x","k\\u0000":1}', "nul-key-echo");
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    const first = await post('{"displayName":""}', "kept-refusal");
    const again = await post('{"displayName":""}', "kept-refusal");
    expect(first.status).toBe(400);
    expect(again.status).toBe(400);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("unknown query parameters", () => {
  it("are a 400 naming them on every operation that reads a query, as unknown body fields are", async () => {
    const withQuery = operations.filter((op) => op.parameters.some((p) => p.in === "query"));
    expect(withQuery.length).toBeGreaterThanOrEqual(10);
    const before = await storedState();
    for (const op of withQuery) {
      const res = await send(op, { query: "?stauts=online" });
      expect(res.status, op.key).toBe(400);
      expect(res.body.issues, op.key).toContainEqual({ path: "stauts", message: "unknown query parameter" });
    }
    expect(changed(before, await storedState())).toEqual([]);
  });
});

describe("reserved keys (__proto__, constructor, prototype)", () => {
  it("are a 422 naming the path in every object of every body, labels included, nothing stored", async () => {
    const before = await storedState();
    for (const op of operations.filter((o) => o.bodySchema)) {
      const text = JSON.stringify(BODIES[op.key]);
      for (const key of ["__proto__", "constructor", "prototype"]) {
        // JSON.stringify cannot write an own "__proto__": splice it into the text.
        const raw = text.replace(/^\{/, `{"${key}":"x",`);
        const res = await fetch(urlOf(op), {
          method: op.method,
          headers: { authorization: `Bearer ${srv.operatorKey}`, "content-type": "application/json" },
          body: raw,
        });
        expect(res.status, `${op.key} ${key}`).toBe(422);
        expect(((await res.json()) as Json).issues).toEqual([
          { path: key, message: `the key "${key}" is reserved` },
        ]);
      }
    }
    const patch = operations.find((o) => o.key === "PATCH /api/v1/tenants/{tenantId}/agents/{instanceUid}");
    if (!patch) throw new Error("no agent PATCH");
    const res = await fetch(urlOf(patch), {
      method: "PATCH",
      headers: { authorization: `Bearer ${srv.operatorKey}`, "content-type": "application/json" },
      body: '{"labels":{"__proto__":"polluted","env":"x"}}',
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as Json).issues[0].path).toBe("labels.__proto__");
    expect(changed(before, await storedState())).toEqual([]);
  }, 120_000);
});

describe("integers beyond 32 bits", () => {
  /** Every integer schema reachable from a request (parameters and bodies), with where it is. */
  function integerSchemas(schema: Json, where: string, out: { where: string; schema: Json }[]): void {
    const s = deref(schema);
    if (!s || typeof s !== "object") return;
    if (s.type === "integer") out.push({ where, schema: s });
    for (const [k, v] of Object.entries<Json>(s.properties ?? {})) integerSchemas(v, `${where}.${k}`, out);
    for (const v of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])])
      integerSchemas(v, where, out);
    if (s.items) integerSchemas(s.items, `${where}[]`, out);
    if (s.additionalProperties && typeof s.additionalProperties === "object")
      integerSchemas(s.additionalProperties, `${where}.*`, out);
  }

  it("every integer a request may carry is declared within the 32-bit range", () => {
    const found: { where: string; schema: Json }[] = [];
    for (const op of operations) {
      for (const p of op.parameters) integerSchemas(p.schema, `${op.key} ${p.name}`, found);
      if (op.bodySchema) integerSchemas(op.bodySchema, `${op.key} body`, found);
    }
    expect(found.length).toBeGreaterThan(5);
    for (const { where, schema } of found) {
      expect(schema.maximum, where).toBeLessThanOrEqual(INT32_MAX);
      expect(schema.minimum, where).toBeGreaterThanOrEqual(-INT32_MAX - 1);
    }
  });

  it("2^31 and 2^53-1 in every integer parameter and body field are a 4xx naming it, nothing stored", async () => {
    const before = await storedState();
    let checked = 0;
    for (const big of [2 ** 31, Number.MAX_SAFE_INTEGER]) {
      for (const op of operations) {
        for (const p of op.parameters.filter((x) => deref(x.schema).type === "integer")) {
          const res =
            p.in === "query"
              ? await send(op, { query: `?${p.name}=${big}` })
              : await send(op, { path: { [p.name]: String(big) } });
          expect(res.status, `${op.key} ${p.name}`).toBe(400);
          expect(res.body.issues.map((i: Json) => i.path)).toContain(p.name);
          checked++;
        }
        if (!op.bodySchema) continue;
        const body = BODIES[op.key];
        for (const leaf of leaves(body).filter((l) => typeof l.value === "number")) {
          const res = await send(op, { body: replaced(body, leaf.path, big) });
          // 400 from a schema; 422 from a checker the schema defers to (a rollout strategy).
          expect([400, 422], `${op.key} ${leaf.path}`).toContain(res.status);
          expect(res.body.issues.map((i: Json) => i.path)).toContain(leaf.path);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(changed(before, await storedState())).toEqual([]);
  }, 120_000);
});

describe("cursors", () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const crafted = [
    "!!!not-base64!!!",
    b64(["x\u0000"]),
    b64([1e20]),
    b64([2 ** 40]),
    b64(["not-a-date", "x"]),
    b64(["2026-01-01T00:00:00.000Z", "x\u0000"]),
    b64([]),
    b64({}),
    b64(["agents", "not-a-uuid"]),
    b64(["revisions", -1]),
    b64(["deliveries", "2026-99-99T00:00:00.000Z", "x"]),
  ];

  it("a crafted cursor, or another listing's, is a 400 invalid_cursor on every listing", async () => {
    const listings = operations.filter((op) => op.parameters.some((p) => p.name === "cursor"));
    expect(listings.length).toBeGreaterThanOrEqual(10);
    const page = await fleet.api.get("/api/v1/tenants?limit=1");
    const tenantsCursor: string = page.body.nextCursor;
    expect(tenantsCursor).toEqual(expect.any(String));
    for (const op of listings) {
      const foreign =
        op.path === "/api/v1/tenants" ? b64(["agents", agent.instanceUidString]) : tenantsCursor;
      for (const cursor of [...crafted, foreign]) {
        const res = await send(op, { query: `?cursor=${encodeURIComponent(cursor)}` });
        expect(res.status, `${op.key} ${cursor}`).toBe(400);
        expect(res.body.code).toBe("invalid_cursor");
        expect(res.body.issues).toEqual([{ path: "cursor", message: expect.any(String) }]);
      }
    }
  }, 120_000);

  it("a cursor a listing issued still pages it", async () => {
    const t = `/api/v1/tenants/${fleet.tenantId}`;
    const first = await fleet.api.get(`${t}/config-templates/base/revisions?limit=1`);
    expect(first.body.items.map((r: Json) => r.version)).toEqual([2]);
    const second = await fleet.api.get(
      `${t}/config-templates/base/revisions?limit=1&cursor=${first.body.nextCursor}`,
    );
    expect(second.status).toBe(200);
    expect(second.body.items.map((r: Json) => r.version)).toEqual([1]);
  });
});

describe("OpenAPI patterns", () => {
  function patterned(schema: Json, example: unknown, where: string, out: Json[]): void {
    const s = deref(schema);
    if (!s || typeof s !== "object") return;
    if (typeof s.pattern === "string") out.push({ where, pattern: s.pattern, example: s.example ?? example });
    for (const [k, v] of Object.entries<Json>(s.properties ?? {}))
      patterned(v, undefined, `${where}.${k}`, out);
    for (const v of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])])
      patterned(v, example, where, out);
    if (s.items) patterned(s.items, undefined, `${where}[]`, out);
  }

  it("every pattern compiles as an ECMA-262 Unicode regex and matches its example", () => {
    const found: Json[] = [];
    for (const op of operations) {
      for (const p of op.parameters) patterned(p.schema, p.example, `${op.key} ${p.name}`, found);
      if (op.bodySchema) patterned(op.bodySchema, undefined, `${op.key} body`, found);
    }
    expect(found.length).toBeGreaterThan(10);
    for (const { where, pattern, example } of found) {
      expect(pattern, where).not.toMatch(/\/[a-z]*$/);
      const re = new RegExp(pattern, "u");
      expect(example, `${where}: a pattern needs an example`).toEqual(expect.any(String));
      expect(re.test(example), `${where}: ${pattern} vs ${example}`).toBe(true);
    }
  });

  it("the name of an API key and of an enrollment token matches its documented pattern", async () => {
    const t = `/api/v1/tenants/${fleet.tenantId}`;
    const schema = deref(
      doc.paths["/api/v1/tenants/{tenantId}/api-keys"].post.requestBody.content["application/json"].schema,
    );
    const re = new RegExp(schema.properties.name.pattern, "u");
    for (const name of ["ci", "Équipe 2", "prod-hosts_1.a:b"]) {
      expect(re.test(name)).toBe(true);
      expect((await fleet.api.post(`${t}/api-keys`, { name, role: "viewer" })).status).toBe(201);
    }
    expect(re.test("-leading")).toBe(false);
    expect((await fleet.api.post(`${t}/api-keys`, { name: "-leading", role: "viewer" })).status).toBe(400);
  });
});

describe("If-Match", () => {
  it("every write on a resource whose GET answers an ETag declares If-Match and refuses a stale one", async () => {
    let walked = 0;
    for (const get of operations.filter((o) => o.method === "GET")) {
      const res = await send(get);
      if (res.status !== 200 || !res.headers.get("etag")) continue;
      for (const write of operations.filter(
        (o) => o.path === get.path && ["PUT", "PATCH", "DELETE"].includes(o.method),
      )) {
        expect(
          write.parameters.some((p) => p.in === "header" && p.name === "if-match"),
          `${write.key} declares If-Match`,
        ).toBe(true);
        const before = await storedState();
        const stale = await send(write, { headers: { "if-match": 'W/"stale"' } });
        expect(stale.status, write.key).toBe(412);
        expect(stale.body.code).toBe("precondition_failed");
        expect(changed(before, await storedState())).toEqual([]);
        walked++;
      }
    }
    // tenants, api keys, enrollment tokens, agents (2), templates (2), assignments (2), secrets (2),
    // own telemetry (2)
    expect(walked).toBeGreaterThanOrEqual(13);
  }, 120_000);

  it("a current ETag lets a secret PUT and DELETE and an agent DELETE through", async () => {
    const t = `/api/v1/tenants/${fleet.tenantId}`;
    await fleet.api.put(`${t}/secrets/spare`, { value: "first" });
    let etag = (await fleet.api.get(`${t}/secrets/spare`)).headers.get("etag") ?? "";
    expect(
      (await fleet.api.put(`${t}/secrets/spare`, { value: "second" }, { headers: { "if-match": etag } }))
        .status,
    ).toBe(200);
    expect(
      (await fleet.api.put(`${t}/secrets/spare`, { value: "third" }, { headers: { "if-match": etag } }))
        .status,
    ).toBe(412);
    etag = (await fleet.api.get(`${t}/secrets/spare`)).headers.get("etag") ?? "";
    expect((await fleet.api.delete(`${t}/secrets/spare`, { headers: { "if-match": etag } })).status).toBe(
      204,
    );
    const spare = await fleet.enrolledAgent();
    const uid = spare.instanceUidString;
    await spare.stop();
    // The disconnect is written after stop() returns: read the ETag once the view has settled.
    let agentTag = "";
    for (let i = 0; i < 50; i++) {
      const a = (await fleet.api.get(`${t}/agents/${uid}`)).headers.get("etag") ?? "";
      await new Promise((r) => setTimeout(r, 100));
      const b = (await fleet.api.get(`${t}/agents/${uid}`)).headers.get("etag") ?? "";
      agentTag = b;
      if (a === b && (await fleet.api.get(`${t}/agents/${uid}`)).body.status === "offline") break;
    }
    expect((await fleet.api.delete(`${t}/agents/${uid}`, { headers: { "if-match": agentTag } })).status).toBe(
      204,
    );
    expect((await fleet.api.get(`${t}/agents/${uid}`)).status).toBe(404);
  });
});

describe("transport-level refusals", () => {
  it("a body that is not JSON is a 415 on every operation that takes one", async () => {
    for (const op of operations.filter((o) => o.bodySchema)) {
      const res = await fetch(urlOf(op), {
        method: op.method,
        headers: { authorization: `Bearer ${srv.operatorKey}`, "content-type": "text/plain" },
        body: JSON.stringify(BODIES[op.key]),
      });
      expect(res.status, op.key).toBe(415);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(((await res.json()) as Json).code).toBe("unsupported_media_type");
    }
  });

  it("a method a path does not have is a 405 with Allow listing the ones it has, on every path", async () => {
    const byPath = new Map<string, Operation[]>();
    for (const op of operations) byPath.set(op.path, [...(byPath.get(op.path) ?? []), op]);
    for (const [path, ops] of byPath) {
      const declared = ops.map((o) => o.method);
      const first = ops[0] as Operation;
      const concrete = new URL(urlOf(first)).pathname;
      const matches = (o: Operation) => new RegExp(`^${o.path.replace(/\{\w+\}/g, "[^/]+")}$`).test(concrete);
      // The most specific templates answer for the URL: …/agents/restart is the restart route,
      // not an agent called "restart".
      const params = (o: Operation) => (o.path.match(/\{/g) ?? []).length;
      const candidates = operations.filter(matches);
      const fewest = Math.min(...candidates.map(params));
      const answered = candidates.filter((o) => params(o) === fewest).map((o) => o.method);
      const expected = [...new Set([...answered, ...(answered.includes("GET") ? ["HEAD"] : [])])].sort();
      expect(answered.sort()).toEqual([...declared].sort());
      for (const method of ["GET", "PUT", "POST", "PATCH", "DELETE"].filter((m) => !declared.includes(m))) {
        const res = await fetch(urlOf(first), {
          method,
          headers: { authorization: `Bearer ${srv.operatorKey}` },
        });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.get("allow")?.split(", ")).toEqual(expected);
        expect(((await res.json()) as Json).code).toBe("method_not_allowed");
      }
    }
  });

  it("a query string over the header limit is a 431 in problem+json", async () => {
    const res = await fetch(`${srv.url}/api/v1/tenants?q=${"a".repeat(20_000)}`, {
      headers: { authorization: `Bearer ${srv.operatorKey}` },
    });
    expect(res.status).toBe(431);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(((await res.json()) as Json).code).toBe("headers_too_large");
  });

  it("after a 413 on a keep-alive connection, the answer says Connection: close, or the next request is answered", async () => {
    const limit = srv.ctx.config.http.bodyLimitBytes;
    const socket: Socket = connect(srv.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let received = "";
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (d) => {
      received += d.toString("latin1");
    });
    socket.on("error", () => undefined);
    const big = "x".repeat(limit + 10);
    const auth = `Authorization: Bearer ${srv.operatorKey}\r\n`;
    socket.write(
      `POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${big.length}\r\nConnection: keep-alive\r\n\r\n${big}`,
    );
    socket.write(`GET /api/v1/tenants HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
    socket.destroy();
    const first = received.split("\r\n\r\n")[0] ?? "";
    expect(first).toMatch(/^HTTP\/1\.1 413 /);
    const saysClose = /\r\nconnection: close\r\n/i.test(`${first}\r\n`);
    const secondAnswered = /HTTP\/1\.1 200 /.test(received);
    expect(saysClose || secondAnswered).toBe(true);
    expect(saysClose).toBe(true);
  });
});

describe("template variables no agent can have", () => {
  it.each([
    ["a: {{nosuch}}\n", "nosuch"],
    ["a: {{tenant.nosuch}}\n", "tenant.nosuch"],
    ["a: {{agent.labels}}{{agent.nosuch.x}}\n", "agent.nosuch.x"],
    ['a: {{default tenant.id.x "y"}}\n', "tenant.id.x"],
    ["{{#with tenant}}a: {{region}}{{/with}}\n", "region"],
    ["{{#each agent.labels}}a: {{this.name}}{{/each}}\n", "this.name"],
  ])("%s is refused at write time, naming %s, and nothing is stored", async (content, variable) => {
    const t = `/api/v1/tenants/${fleet.tenantId}`;
    const before = await storedState();
    const res = await fleet.api.put(`${t}/config-templates/vars`, { content });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body.issues)).toContain(`undefined variable \\"${variable}\\"`);
    expect(changed(before, await storedState())).toEqual([]);
  });

  it("accepts every variable a render context has: labels, attributes, helpers, blocks, @root", async () => {
    const t = `/api/v1/tenants/${fleet.tenantId}`;
    const content = [
      "a: {{agent.instanceUid}}",
      "b: {{tenant.id}}-{{tenant.name}}",
      "c: {{agent.labels.env}}",
      'd: {{default agent.attributes.host "h"}}',
      'e: {{label "tier" "web"}}',
      'f: "{{secret "otlp_token"}}"',
      'g: {{default tenant.region "eu"}}',
      "{{#each agent.labels as |value key|}}",
      "l_{{key}}: {{value}}-{{@key}}-{{this}}-{{../tenant.id}}-{{@root.tenant.name}}",
      "{{/each}}",
      "{{#with agent}}h: {{instanceUid}}{{/with}}",
      "{{#if agent.labels.x}}i: {{agent.labels.x}}{{else}}i: none{{/if}}",
      "",
    ].join("\n");
    const res = await fleet.api.put(`${t}/config-templates/vars-ok`, { content });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
});
