/**
 * The KMS integration tests run with: the server's own local provider by default, or, with
 * TEST_KMS=aws, AWS KMS through @aws-sdk/client-kms against one moto emulator per test process
 * (`.ci/run` runs the suite both ways).
 */

import { randomBytes } from "node:crypto";
import { AwsKms, type Kms, LocalKms } from "../../src/kms/index.js";
import { type KmsEmulator, startKmsEmulator } from "./kms-emulator.js";

export const testKmsKind: "aws" | "local" = process.env.TEST_KMS === "aws" ? "aws" : "local";

let emulator: Promise<KmsEmulator> | undefined;

/** A KMS for one test server: emulator-backed AWS under TEST_KMS=aws, undefined otherwise. */
export async function serverKms(): Promise<Kms | undefined> {
  if (testKmsKind !== "aws") return undefined;
  const shared = process.env.TEST_KMS_ENDPOINT;
  if (shared) {
    // The run's emulator, started by test/helpers/global-kms.ts (vitest globalSetup).
    return new AwsKms({
      keyId: process.env.TEST_KMS_KEY_ID ?? "",
      region: process.env.TEST_KMS_REGION ?? "us-east-1",
      endpoint: shared,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
  }
  emulator ??= startKmsEmulator();
  const e = await emulator;
  return new AwsKms({ keyId: e.keyId, region: e.region, endpoint: e.endpoint, credentials: e.credentials });
}

/** A KMS a test holds itself (to wrap or switch off): AWS under TEST_KMS=aws, local otherwise. */
export async function explicitKms(): Promise<Kms> {
  return (await serverKms()) ?? new LocalKms(randomBytes(32));
}
