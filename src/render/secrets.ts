/**
 * Where `{{secret "name"}}` values come from. The renderer never stores, logs or caches a
 * plaintext: it asks the resolver on every render and hands the values back to the caller only
 * so that the caller can mask them (RenderResult.secretValues).
 */

/** Resolves a tenant's secret by name at render time (e.g. decrypts it through the KMS). */
export interface SecretResolver {
  /**
   * The plaintext of secret `name` in tenant `tenantId`. Rejects with SecretNotFoundError when no
   * such secret exists, SecretUnavailableError when it exists but cannot be read right now.
   */
  resolve(tenantId: string, name: string): Promise<string>;
}

/** The template references a secret that the tenant does not have: a permanent render failure. */
export class SecretNotFoundError extends Error {
  override readonly name = "SecretNotFoundError";
  constructor(readonly secretName: string) {
    super(`secret "${secretName}" does not exist`);
  }
}

/** The secret exists but cannot be read now (KMS down or throttled): retry later. */
export class SecretUnavailableError extends Error {
  override readonly name = "SecretUnavailableError";
  constructor(
    readonly secretName: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
