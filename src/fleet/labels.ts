/**
 * Label syntax, as in Kubernetes: keys are an optional DNS-subdomain prefix and a name of at
 * most 63 characters; values at most 63 characters of [A-Za-z0-9._-], starting and ending
 * alphanumeric. Selectors (src/fleet/configs) parse the same shapes.
 */
export const LABEL_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
export const LABEL_PREFIX = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
export const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
export const MAX_LABELS = 64;

/** Why `key` is not a valid label key, or null when it is. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !LABEL_PREFIX.test(prefix))) {
    return "prefix must be a DNS subdomain (lower-case, at most 253 characters)";
  }
  if (!LABEL_NAME.test(name)) {
    return "name must be 1-63 characters of [A-Za-z0-9._-], starting and ending alphanumeric";
  }
  return null;
}

/** Why `value` is not a valid label value, or null when it is. */
export function labelValueProblem(value: string): string | null {
  return LABEL_VALUE.test(value)
    ? null
    : "value must be at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric";
}
