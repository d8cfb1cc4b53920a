/**
 * A failure while handling a message is answered the same on both transports: the plain-HTTP
 * transport answers HTTP 200 with ServerErrorResponse UNAVAILABLE and retry info (as the
 * WebSocket transport does), and the agent's next poll, once the fault is gone, is served normally.
 * The fault is real: the agents table is out of reach of the server's statements for a moment.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AgentToServerSchema,
  ServerErrorResponseType,
  type ServerToAgent,
  ServerToAgentSchema,
} from "../../src/gen/opamp/v1/opamp_pb.js";
import { instanceUidToString } from "../../src/opamp/codec.js";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { SUPERVISOR_CAPABILITIES, uuidV7 } from "../helpers/opamp/agent-wire.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let srv: TestServer;
let fleet: TenantFixture;

beforeAll(async () => {
  srv = await startTestServer({ env: { LIVENESS_FLUSH_MS: "200" } });
  fleet = await createTenant(srv, "HTTP failure");
});
afterAll(() => srv?.stop());

async function poll(token: string, uid: Uint8Array): Promise<{ status: number; reply: ServerToAgent }> {
  const res = await fetch(fleet.opampHttpUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-protobuf", Authorization: `Bearer ${token}` },
    body: toBinary(
      AgentToServerSchema,
      create(AgentToServerSchema, {
        instanceUid: uid,
        sequenceNum: 0n,
        capabilities: SUPERVISOR_CAPABILITIES,
      }),
    ),
  });
  return {
    status: res.status,
    reply: fromBinary(ServerToAgentSchema, new Uint8Array(await res.arrayBuffer())),
  };
}

describe("a handling failure on the plain-HTTP transport", () => {
  it("answers HTTP 200 with UNAVAILABLE and retry info; the next poll after the fault enrolls the agent", async () => {
    const { token } = await fleet.enrollmentToken();
    const uid = uuidV7();
    const { db } = srv.ctx.database;
    await sql`alter table agents rename to agents_out_of_reach`.execute(db);
    let failed: { status: number; reply: ServerToAgent };
    try {
      failed = await poll(token, uid);
    } finally {
      await sql`alter table agents_out_of_reach rename to agents`.execute(db);
    }
    expect(failed.status).toBe(200);
    expect(failed.reply.errorResponse?.type).toBe(
      ServerErrorResponseType.ServerErrorResponseType_Unavailable,
    );
    expect(failed.reply.errorResponse?.Details.case).toBe("retryInfo");
    expect(failed.reply.errorResponse?.Details.value).toMatchObject({
      retryAfterNanoseconds: 5_000_000_000n,
    });
    expect(srv.logs()).toContain("OpAMP message handling failed");
    expect(srv.logs()).not.toContain(token);

    // The session was not left half-started: the retry is a normal first message.
    const again = await poll(token, uid);
    expect(again.status).toBe(200);
    expect(again.reply.errorResponse).toBeUndefined();
    expect(again.reply.connectionSettings?.opamp?.headers?.headers[0]?.value).toMatch(/^Bearer xag_/);
    const view = await fleet.api.get(`/api/v1/tenants/${fleet.tenantId}/agents/${instanceUidToString(uid)}`);
    expect(view.status).toBe(200);
    expect(view.body.connection.transport).toBe("http");
  });
});
