/**
 * `agent-api secrets rewrap` as an operator runs it after rotating the local master key: every
 * data key moves to the new key, values and ciphertexts stay, the old key is no longer needed.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { LocalKms } from "../../src/kms/index.js";
import { createTestDatabase } from "../helpers/database.js";
import { createTenant } from "../helpers/fleet.js";
import { startTestServer } from "../helpers/server.js";

const run = promisify(execFile);

describe("agent-api secrets rewrap", () => {
  it("re-wraps every data key under the new local master key without changing values or ciphertexts", async () => {
    const database = await createTestDatabase();
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    try {
      const first = await startTestServer({ database, kms: new LocalKms(oldKey) });
      const fleet = await createTenant(first, "Rewrap");
      await fleet.api.put(`/api/v1/tenants/${fleet.tenantId}/secrets/db_password`, {
        value: "correct horse battery",
      });
      await fleet.api.put(`/api/v1/tenants/${fleet.tenantId}/secrets/db_password`, {
        value: "correct horse battery 2",
      });
      const before = await first.ctx.database.db
        .selectFrom("agent_config_secrets")
        .selectAll()
        .orderBy("version")
        .execute();
      await first.stop();

      const { stdout } = await run(
        process.execPath,
        ["--import", "tsx", "src/main.ts", "secrets", "rewrap"],
        {
          env: {
            PATH: process.env.PATH ?? "",
            DATA_DIR: database.dataDir,
            LOG_LEVEL: "silent",
            LOCAL_KMS_KEY: newKey.toString("base64"),
            LOCAL_KMS_PREVIOUS_KEYS: oldKey.toString("base64"),
            ...(database.url ? { DATABASE_URL: database.url } : {}),
          },
        },
      );
      expect(stdout).toContain("rewrapped 2, already current 0, failed 0");

      // Only the new key from now on.
      const second = await startTestServer({
        database,
        kms: new LocalKms(newKey),
        env: { ADMIN_TOKEN: first.operatorKey },
      });
      try {
        const after = await second.ctx.database.db
          .selectFrom("agent_config_secrets")
          .selectAll()
          .orderBy("version")
          .execute();
        expect(after.map((r) => r.kms_key_id)).toEqual([
          new LocalKms(newKey).currentKeyId,
          new LocalKms(newKey).currentKeyId,
        ]);
        expect(after.map((r) => (r.envelope as { ciphertext: string }).ciphertext)).toEqual(
          before.map((r) => (r.envelope as { ciphertext: string }).ciphertext),
        );
        expect(await second.ctx.services.secrets.resolve(fleet.tenantId, "db_password")).toBe(
          "correct horse battery 2",
        );
      } finally {
        await second.stop();
      }
    } finally {
      await database.drop();
    }
  });
});
