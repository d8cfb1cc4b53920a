/** Builds the configured KMS (see kms.ts for the interface and error classes). */
import type { Config } from "../config.js";
import { AwsKms } from "./aws.js";
import type { Kms } from "./kms.js";
import { LocalKms, loadLocalMasterKey } from "./local.js";

export { AwsKms } from "./aws.js";
export { DataKeyCache, type Envelope, EnvelopeCipher, type SecretAddress } from "./envelope.js";
export { IntegrityError, type Kms, KmsKeyError, KmsUnavailableError } from "./kms.js";
export { LocalKms } from "./local.js";
export { type KmsObserver, MeteredKms } from "./metered.js";

export async function createKms(config: Config["kms"]): Promise<Kms> {
  if (config.provider === "aws") {
    return new AwsKms({ keyId: config.keyId, region: config.region, endpoint: config.endpoint });
  }
  const current = await loadLocalMasterKey(config.localKey, config.dataDir);
  return new LocalKms(
    current,
    config.previousKeys.map((k) => Buffer.from(k, "base64")),
  );
}
