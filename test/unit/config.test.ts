import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { issueToken } from "../../src/credentials/index.js";

describe("loadConfig", () => {
  it("gives the documented defaults for an empty environment", () => {
    const c = loadConfig({});
    expect(c.http).toMatchObject({ host: "0.0.0.0", port: 8082 });
    expect(c.database.url).toBeUndefined();
    expect(c.database.dataDir).toMatch(/\/data$/);
    expect(c.kms.provider).toBe("local");
    expect(c.log.level).toBe("info");
    expect(c.opamp.heartbeatIntervalSeconds).toBe(30);
    expect(c.opamp.publicUrl).toBeUndefined();
  });

  it.each([
    ["PORT", "eighty"],
    ["PORT", "70000"],
    ["DATABASE_URL", "mysql://localhost/db"],
    ["LOG_LEVEL", "loud"],
    ["KMS_PROVIDER", "vault"],
    ["PUBLIC_OPAMP_URL", "localhost:8082"],
    ["ADMIN_TOKEN", "not-a-key"],
    ["ADMIN_TOKEN", issueToken("enrollment").plaintext],
    ["JWT_SECRET", "short"],
    ["MIGRATE_ON_START", "maybe"],
    ["LOCAL_KMS_KEY", "abc"],
    ["DB_CONNECTION_MAX_LIFETIME_SECONDS", "0"],
    ["DB_CONNECTION_MAX_LIFETIME_SECONDS", "an hour"],
  ])("stops with a message naming %s when it is %j", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`\\b${name}\\b`));
  });

  it("reads the database password file path and the connection lifetime (900 s by default)", () => {
    expect(loadConfig({}).database).toMatchObject({
      passwordFile: undefined,
      connectionMaxLifetimeSeconds: 900,
    });
    const c = loadConfig({
      DATABASE_PASSWORD_FILE: "/run/secrets/db-password",
      DB_CONNECTION_MAX_LIFETIME_SECONDS: "60",
    });
    expect(c.database).toMatchObject({
      passwordFile: "/run/secrets/db-password",
      connectionMaxLifetimeSeconds: 60,
    });
  });

  it("requires KMS_KEY_ID with KMS_PROVIDER=aws", () => {
    expect(() => loadConfig({ KMS_PROVIDER: "aws" })).toThrow(/KMS_KEY_ID: is required/);
    const c = loadConfig({
      KMS_PROVIDER: "aws",
      KMS_KEY_ID: "alias/agent-api",
      KMS_ENDPOINT: "http://127.0.0.1:4566",
    });
    expect(c.kms).toEqual({
      provider: "aws",
      keyId: "alias/agent-api",
      region: undefined,
      endpoint: "http://127.0.0.1:4566",
    });
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ PORT: "", DATABASE_URL: "" }).http.port).toBe(8082);
  });

  it("accepts a well-formed operator key and a full configuration", () => {
    const key = issueToken("admin").plaintext;
    const c = loadConfig({
      PORT: "9000",
      HOST: "127.0.0.1",
      DATABASE_URL: "postgres://u:p@db:5432/agentapi",
      PUBLIC_OPAMP_URL: "wss://opamp.example.com/v1/opamp",
      ADMIN_TOKEN: key,
      LOG_LEVEL: "debug",
    });
    expect(c.http.port).toBe(9000);
    expect(c.auth.adminToken).toBe(key);
    expect(c.opamp.publicUrl).toBe("wss://opamp.example.com/v1/opamp");
  });
});
