/**
 * The KMS emulator harness (test/helpers/kms-emulator.ts, moto server pinned in
 * scripts/kms-emulator.sh) and the KMS semantics the AWS provider (src/kms/aws.ts) relies on, as
 * the emulator implements them — checked with @aws-sdk/client-kms directly.
 *
 * Emulator answers worth knowing (moto 5.2.5; real AWS KMS noted where it differs):
 * - wrong or missing EncryptionContext, flipped ciphertext/IV/tag bytes, truncated or foreign blobs:
 *   InvalidCiphertextException, HTTP 400, with no message (the SDK reports "UnknownError").
 * - a flipped byte in the first 36 bytes of a moto blob (the key id, stored in clear):
 *   AccessDeniedException — real KMS answers InvalidCiphertextException.
 * - Decrypt with a KeyId other than the blob's key: AccessDeniedException — real KMS answers
 *   IncorrectKeyException.
 * - blobs are 64 bytes + plaintext (96 for a 32-byte data key); real KMS blobs are larger (~184).
 * - the encryption context is bound as sorted key+value concatenation, so {secret_namedb: ""} opens
 *   a blob made for {secret_name: "db"}; real KMS does not allow that.
 */
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ListKeysCommand,
  ReEncryptCommand,
} from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KmsEmulator, kmsEmulatorAvailable, startKmsEmulator } from "../helpers/kms-emulator.js";

const context = { tenant_id: "tenant-a", secret_name: "db-password" };

/** The error a KMS call fails with: SDK name, message and HTTP status. */
async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error("expected the KMS call to fail");
}

function flipByte(blob: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(blob);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

describe("KMS emulator", () => {
  let kms: KmsEmulator;
  let client: KMSClient;

  // The first run on a machine installs the emulator (pip, about 10-60 s).
  beforeAll(async () => {
    kms = await startKmsEmulator();
    client = new KMSClient({ endpoint: kms.endpoint, region: kms.region, credentials: kms.credentials });
  }, 600_000);

  afterAll(async () => {
    client?.destroy();
    await kms?.stop();
  });

  it("runs on loopback with a fresh symmetric key", async () => {
    expect(await kmsEmulatorAvailable()).toBe(true);
    expect(kms.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(kms.region).toBe("us-east-1");
    const keys = await client.send(new ListKeysCommand({}));
    expect(keys.Keys?.map((k) => k.KeyId)).toEqual([kms.keyId]);
    expect(kms.env).toMatchObject({
      KMS_PROVIDER: "aws",
      KMS_ENDPOINT: kms.endpoint,
      KMS_KEY_ID: kms.keyId,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    });
  });

  it("gives each caller its own emulator process", async () => {
    const other = await startKmsEmulator();
    try {
      expect(other.endpoint).not.toBe(kms.endpoint);
      const otherClient = new KMSClient({
        endpoint: other.endpoint,
        region: other.region,
        credentials: other.credentials,
      });
      try {
        const keys = await otherClient.send(new ListKeysCommand({}));
        expect(keys.Keys?.map((k) => k.KeyId)).toEqual([other.keyId]);
      } finally {
        otherClient.destroy();
      }
    } finally {
      await other.stop();
    }
    // Stopped means gone: the port no longer answers.
    const gone = new KMSClient({
      endpoint: other.endpoint,
      region: other.region,
      credentials: other.credentials,
      maxAttempts: 1,
    });
    try {
      await expect(gone.send(new ListKeysCommand({}))).rejects.toMatchObject({ code: "ECONNREFUSED" });
    } finally {
      gone.destroy();
    }
  });

  it("GenerateDataKey AES_256 with an encryption context returns a 32-byte key and its blob; Decrypt restores it", async () => {
    const key = await client.send(
      new GenerateDataKeyCommand({ KeyId: kms.keyId, KeySpec: "AES_256", EncryptionContext: context }),
    );
    expect(key.Plaintext?.length).toBe(32);
    expect(key.CiphertextBlob?.length).toBe(96); // moto: 36-byte key id + 12-byte IV + 16-byte tag + 32
    expect(key.KeyId).toBe(`arn:aws:kms:us-east-1:123456789012:key/${kms.keyId}`);

    // As the provider calls it: the same context and the KeyId (ARN) GenerateDataKey returned.
    const withKeyId = await client.send(
      new DecryptCommand({
        CiphertextBlob: key.CiphertextBlob,
        EncryptionContext: context,
        KeyId: key.KeyId,
      }),
    );
    expect(Buffer.from(withKeyId.Plaintext ?? [])).toEqual(Buffer.from(key.Plaintext ?? []));
    expect(withKeyId.KeyId).toBe(key.KeyId);

    const withoutKeyId = await client.send(
      new DecryptCommand({ CiphertextBlob: key.CiphertextBlob, EncryptionContext: { ...context } }),
    );
    expect(Buffer.from(withoutKeyId.Plaintext ?? [])).toEqual(Buffer.from(key.Plaintext ?? []));
  });

  it("Decrypt with a different or missing encryption context fails with InvalidCiphertextException", async () => {
    const key = await client.send(
      new GenerateDataKeyCommand({ KeyId: kms.keyId, KeySpec: "AES_256", EncryptionContext: context }),
    );
    const expected = { name: "InvalidCiphertextException", message: "UnknownError", status: 400 };
    for (const wrong of [
      { ...context, secret_name: "other-secret" },
      { ...context, tenant_id: "tenant-b" },
      { ...context, extra: "x" },
      { tenant_id: context.tenant_id },
      undefined,
    ]) {
      expect(
        await failure(
          client.send(new DecryptCommand({ CiphertextBlob: key.CiphertextBlob, EncryptionContext: wrong })),
        ),
      ).toEqual(expected);
    }
  });

  it("Decrypt of a tampered, truncated or foreign blob fails", async () => {
    const key = await client.send(
      new GenerateDataKeyCommand({ KeyId: kms.keyId, KeySpec: "AES_256", EncryptionContext: context }),
    );
    const blob = key.CiphertextBlob ?? new Uint8Array();
    const decrypt = (CiphertextBlob: Uint8Array) =>
      failure(client.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context })));
    const invalid = { name: "InvalidCiphertextException", message: "UnknownError", status: 400 };

    expect(await decrypt(flipByte(blob, blob.length - 1))).toEqual(invalid); // ciphertext
    expect(await decrypt(flipByte(blob, 40))).toEqual(invalid); // IV
    expect(await decrypt(flipByte(blob, 50))).toEqual(invalid); // tag
    expect(await decrypt(blob.subarray(0, 20))).toEqual(invalid);
    expect(await decrypt(new TextEncoder().encode("not a kms blob"))).toEqual(invalid);
    // moto keeps the key id in clear at the front of the blob: changing it names a key that does not
    // exist, which moto answers with AccessDeniedException (real KMS: InvalidCiphertextException).
    expect(await decrypt(flipByte(blob, 0))).toEqual({
      name: "AccessDeniedException",
      message: "UnknownError",
      status: 400,
    });
  });

  it("Encrypt under a second key, Decrypt it; Decrypt naming the wrong key is refused", async () => {
    const key2 = await kms.createKey();
    expect(key2).not.toBe(kms.keyId);
    const plaintext = new TextEncoder().encode("hunter2");
    const encrypted = await client.send(
      new EncryptCommand({ KeyId: key2, Plaintext: plaintext, EncryptionContext: context }),
    );
    expect(encrypted.KeyId).toBe(`arn:aws:kms:us-east-1:123456789012:key/${key2}`);

    const decrypted = await client.send(
      new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }),
    );
    expect(new TextDecoder().decode(decrypted.Plaintext)).toBe("hunter2");
    expect(decrypted.KeyId).toBe(encrypted.KeyId);

    // moto: AccessDeniedException; real KMS: IncorrectKeyException.
    expect(
      await failure(
        client.send(
          new DecryptCommand({
            CiphertextBlob: encrypted.CiphertextBlob,
            EncryptionContext: context,
            KeyId: kms.keyId,
          }),
        ),
      ),
    ).toEqual({ name: "AccessDeniedException", message: "UnknownError", status: 400 });
  });

  it("ReEncrypt from key 1 to key 2 keeps the plaintext and checks the source context", async () => {
    const key2 = await kms.createKey();
    const dataKey = await client.send(
      new GenerateDataKeyCommand({ KeyId: kms.keyId, KeySpec: "AES_256", EncryptionContext: context }),
    );
    const newContext = { ...context, secret_name: "renamed" };
    const re = await client.send(
      new ReEncryptCommand({
        CiphertextBlob: dataKey.CiphertextBlob,
        SourceEncryptionContext: context,
        DestinationKeyId: key2,
        DestinationEncryptionContext: newContext,
      }),
    );
    expect(re.SourceKeyId).toBe(dataKey.KeyId);
    expect(re.KeyId).toBe(`arn:aws:kms:us-east-1:123456789012:key/${key2}`);

    const decrypted = await client.send(
      new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: newContext }),
    );
    expect(Buffer.from(decrypted.Plaintext ?? [])).toEqual(Buffer.from(dataKey.Plaintext ?? []));
    expect(decrypted.KeyId).toBe(re.KeyId);

    expect(
      await failure(
        client.send(
          new ReEncryptCommand({
            CiphertextBlob: dataKey.CiphertextBlob,
            SourceEncryptionContext: newContext,
            DestinationKeyId: key2,
          }),
        ),
      ),
    ).toMatchObject({ name: "InvalidCiphertextException" });
  });

  it("binds the context as a concatenation (emulator quirk: do not rely on it for key/value boundaries)", async () => {
    const key = await client.send(
      new GenerateDataKeyCommand({ KeyId: kms.keyId, KeySpec: "AES_256", EncryptionContext: context }),
    );
    // {"secret_name": "db-password"} and {"secret_namedb-password": ""} serialize alike in moto.
    // Real KMS rejects this; the provider's own tests must not depend on either answer.
    const shifted = { "secret_namedb-password": "", tenant_id: context.tenant_id };
    const out = await client.send(
      new DecryptCommand({ CiphertextBlob: key.CiphertextBlob, EncryptionContext: shifted }),
    );
    expect(Buffer.from(out.Plaintext ?? [])).toEqual(Buffer.from(key.Plaintext ?? []));
  });
});
