/**
 * Where `{{secret "name"}}` values come from. The renderer never stores, logs or caches a
 * plaintext: it asks the resolver on every render and hands the values back to the caller only
 * so that the caller can mask them (RenderResult.secretValues).
 */

/**
 * The names a tenant's secret can have: the API accepts only these, and `{{secret "name"}}` only
 * compiles with one of them, so a template can never name a secret that could not exist.
 */
export const SECRET_NAME_PATTERN = /^[a-z0-9_.-]{1,128}$/;
/** SECRET_NAME_PATTERN in words, for error messages. */
export const SECRET_NAME_RULE = "1-128 characters of [a-z0-9_.-]";

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
