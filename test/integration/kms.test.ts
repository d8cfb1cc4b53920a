/**
 * Envelope encryption against both KMS providers: the local one, and AWS KMS through the SDK
 * against a real emulator (moto server on loopback, installed and started by the test).
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AwsKms,
  EnvelopeCipher,
  IntegrityError,
  type Kms,
  KmsKeyError,
  KmsUnavailableError,
  LocalKms,
} from "../../src/kms/index.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { SwitchableKms } from "../helpers/switchable-kms.js";

let emulator: KmsEmulator;
let secondKeyId: string;

beforeAll(async () => {
  emulator = await startKmsEmulator();
  secondKeyId = await emulator.createKey();
}, 180_000);
afterAll(() => emulator?.stop());

const A = { tenantId: "xs_acme_aaaaaaaa", secretName: "otlp_token" };

type Providers = Array<[string, () => Kms, () => Kms]>;
const localMaster = randomBytes(32);
const providers: Providers = [
  ["local", () => new LocalKms(localMaster), () => new LocalKms(randomBytes(32))],
  [
    "aws (emulator)",
    () =>
      new AwsKms({
        keyId: emulator.keyId,
        region: emulator.region,
        endpoint: emulator.endpoint,
        credentials: emulator.credentials,
      }),
    () =>
      new AwsKms({
        keyId: secondKeyId,
        region: emulator.region,
        endpoint: emulator.endpoint,
        credentials: emulator.credentials,
      }),
  ],
];

function flip(b64: string, at: number): string {
  const b = Buffer.from(b64, "base64");
  const i = Math.min(at, b.length - 1);
  b[i] = (b[i] ?? 0) ^ 0x01;
  return b.toString("base64");
}

describe.each(providers)("envelope encryption with the %s KMS", (_name, make, makeOther) => {
  it("seals and opens a value; the envelope is self-describing and holds no plaintext", async () => {
    const cipher = new EnvelopeCipher(make());
    const env = await cipher.seal(A, "hunter2-value");
    expect(env).toMatchObject({ v: 1, alg: "AES-256-GCM", kms: make().provider });
    expect(env.keyId.length).toBeGreaterThan(0);
    expect(JSON.stringify(env)).not.toContain("hunter2");
    expect(await cipher.open(A, env)).toBe("hunter2-value");
    // Each seal uses a fresh data key and nonce.
    const again = await cipher.seal(A, "hunter2-value");
    expect(again.ciphertext).not.toBe(env.ciphertext);
    expect(again.wrappedKey).not.toBe(env.wrappedKey);
  });

  it("refuses a ciphertext copied to another tenant or another secret name, with an integrity error", async () => {
    const cipher = new EnvelopeCipher(make());
    const env = await cipher.seal(A, "value");
    await expect(cipher.open({ ...A, tenantId: "xs_other_bbbbbbbb" }, env)).rejects.toBeInstanceOf(
      IntegrityError,
    );
    await expect(cipher.open({ ...A, secretName: "another" }, env)).rejects.toBeInstanceOf(IntegrityError);
  });

  it("refuses a tampered nonce, tag, ciphertext or wrapped key with an integrity error", async () => {
    const env = await new EnvelopeCipher(make()).seal(A, "value");
    const body = Buffer.from(env.ciphertext, "base64");
    const cases = {
      nonce: { ...env, nonce: flip(env.nonce, 3) },
      tag: { ...env, ciphertext: flip(env.ciphertext, body.length - 1) },
      ciphertext: { ...env, ciphertext: flip(env.ciphertext, 0) },
      // Past the emulator's plain-text key id header (its first 36 bytes), into the sealed part.
      wrappedKey: { ...env, wrappedKey: flip(env.wrappedKey, 50) },
      truncated: { ...env, ciphertext: body.subarray(0, 8).toString("base64") },
      notAnEnvelope: { hello: "world" },
    };
    for (const [what, tampered] of Object.entries(cases)) {
      // A fresh cipher each time: no cached data key hides a tampered wrapped key.
      await expect(new EnvelopeCipher(make()).open(A, tampered), what).rejects.toBeInstanceOf(IntegrityError);
    }
  });

  it("refuses a data key wrapped by another KMS key, never answering plaintext", async () => {
    const env = await new EnvelopeCipher(makeOther()).seal(A, "value");
    const mine = make();
    // The envelope claims to be wrapped by our key although another key wrapped it.
    const relabelled = { ...env, keyId: mine.currentKeyId };
    const err = await new EnvelopeCipher(mine).open(A, relabelled).catch((e: unknown) => e);
    // Local: the wrap does not verify under our master key. AWS: KMS refuses the key id.
    expect(err).toBeInstanceOf(mine.provider === "local" ? IntegrityError : KmsKeyError);
    // A key this server does not hold at all is a key error for both.
    const unknownKey = await new EnvelopeCipher(mine)
      .open(A, { ...env, keyId: "local:0000000000000000" })
      .catch((e: unknown) => e);
    expect(unknownKey).toBeInstanceOf(mine.provider === "local" ? KmsKeyError : Error);
    expect(unknownKey).not.toBeInstanceOf(KmsUnavailableError);
  });

  it("caches decrypted data keys: a second open does not call the KMS", async () => {
    const counted = new SwitchableKms(make());
    const cipher = new EnvelopeCipher(counted);
    const env = await cipher.seal(A, "cached");
    await cipher.open(A, env);
    const calls = counted.calls;
    counted.down = true;
    expect(await cipher.open(A, env)).toBe("cached");
    expect(counted.calls).toBe(calls + 0);
  });
});

describe("local KMS key rotation", () => {
  it("reads secrets of a previous master key and rewraps them under the new one", async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const env = await new EnvelopeCipher(new LocalKms(oldKey)).seal(A, "rotate-me");
    const withoutOld = new EnvelopeCipher(new LocalKms(newKey));
    await expect(withoutOld.open(A, env)).rejects.toBeInstanceOf(KmsKeyError);
    const rotating = new EnvelopeCipher(new LocalKms(newKey, [oldKey]));
    const next = await rotating.rewrap(A, env);
    expect(next?.ciphertext).toBe(env.ciphertext);
    expect(await withoutOld.open(A, next)).toBe("rotate-me");
  });
});

describe("AWS KMS key rotation", () => {
  it("rewraps data keys under a new KMS key without changing the ciphertext or the value", async () => {
    const aws = (keyId: string) =>
      new AwsKms({
        keyId,
        region: emulator.region,
        endpoint: emulator.endpoint,
        credentials: emulator.credentials,
      });
    const env = await new EnvelopeCipher(aws(emulator.keyId)).seal(A, "rotate-me");
    const rotating = new EnvelopeCipher(aws(secondKeyId));
    const next = await rotating.rewrap(A, env);
    expect(next?.keyId).not.toBe(env.keyId);
    expect(next?.keyId).toContain(secondKeyId);
    expect(next?.ciphertext).toBe(env.ciphertext);
    expect(next?.nonce).toBe(env.nonce);
    expect(await new EnvelopeCipher(aws(secondKeyId)).open(A, next)).toBe("rotate-me");
    expect(await rotating.rewrap(A, next)).toBeUndefined();
  });
});

describe("AWS KMS failures", () => {
  it("maps an unreachable endpoint to KmsUnavailableError (fail closed, retry later)", async () => {
    const dead = new AwsKms({
      keyId: emulator.keyId,
      region: emulator.region,
      endpoint: "http://127.0.0.1:9",
      credentials: emulator.credentials,
    });
    await expect(dead.generateDataKey({ tenant_id: "t", secret_name: "s" })).rejects.toBeInstanceOf(
      KmsUnavailableError,
    );
  });

  it("maps an unknown key to KmsKeyError", async () => {
    const unknown = new AwsKms({
      keyId: "00000000-0000-0000-0000-000000000000",
      region: emulator.region,
      endpoint: emulator.endpoint,
      credentials: emulator.credentials,
    });
    await expect(unknown.generateDataKey({ tenant_id: "t", secret_name: "s" })).rejects.toBeInstanceOf(
      KmsKeyError,
    );
  });
});
