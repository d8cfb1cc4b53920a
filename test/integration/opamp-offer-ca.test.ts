/**
 * With OPAMP_OFFER_CA_FILE the key offer carries the CA bundle (and only it), so a supervisor keeps
 * verifying the server certificate after switching to its own key.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { createContext } from "../../src/context.js";
import { createTenant, type TenantFixture } from "../helpers/fleet.js";
import { TestAgent } from "../helpers/opamp/supervisor.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const PEM =
  "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2FUZXN0Q2FGb3JBZ2VudEFwaTAKBggqhkjOPQQDAjAQ\n-----END CERTIFICATE-----\n";

let srv: TestServer;
let fleet: TenantFixture;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "offer-ca-"));
  await writeFile(join(dir, "ca.pem"), PEM);
  srv = await startTestServer({ env: { OPAMP_OFFER_CA_FILE: join(dir, "ca.pem") } });
  fleet = await createTenant(srv, "Offer CA");
});
afterAll(() => srv?.stop());

describe("the CA bundle in the key offer", () => {
  it("offers certificate.ca_cert with the key, and no client certificate or private key", async () => {
    const { token } = await fleet.enrollmentToken();
    const a = new TestAgent({ url: fleet.opampUrl, token });
    try {
      await a.start();
      await a.waitForConnection(2);
      const offer = a.offers[0];
      expect(Buffer.from(offer?.certificate?.caCert ?? []).toString()).toBe(PEM);
      expect(offer?.certificate?.cert.length).toBe(0);
      expect(offer?.certificate?.privateKey.length).toBe(0);
    } finally {
      await a.stop();
    }
  });

  it("refuses to start when the file holds no certificate", async () => {
    await writeFile(join(dir, "bad.pem"), "not a certificate\n");
    const config = loadConfig({ DATA_DIR: join(dir, "data"), OPAMP_OFFER_CA_FILE: join(dir, "bad.pem") });
    await expect(createContext(config)).rejects.toThrow(ConfigError);
    await expect(createContext(config)).rejects.toThrow(/OPAMP_OFFER_CA_FILE/);
  });
});
