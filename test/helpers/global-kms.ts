/**
 * vitest globalSetup: with TEST_KMS=aws, one KMS emulator for the whole run, started before the
 * test workers (they inherit its address through the environment) and stopped after them, so no
 * emulator process outlives the run.
 */
import { type KmsEmulator, startKmsEmulator } from "./kms-emulator.js";

let emulator: KmsEmulator | undefined;

export async function setup(): Promise<void> {
  if (process.env.TEST_KMS !== "aws" || process.env.TEST_KMS_ENDPOINT) return;
  emulator = await startKmsEmulator();
  process.env.TEST_KMS_ENDPOINT = emulator.endpoint;
  process.env.TEST_KMS_KEY_ID = emulator.keyId;
  process.env.TEST_KMS_REGION = emulator.region;
}

export async function teardown(): Promise<void> {
  await emulator?.stop();
}
