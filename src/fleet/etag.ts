/**
 * ETags are computed from a resource's public representation, so any visible change changes
 * the tag and no version column has to be kept in step.
 */
import { createHash } from "node:crypto";
import { PreconditionFailedError } from "../errors.js";

/** Weak ETag of a JSON-serialisable view. */
export function etagOf(view: unknown): string {
  const digest = createHash("sha256").update(JSON.stringify(view)).digest("base64url").slice(0, 27);
  return `W/"${digest}"`;
}

/**
 * Enforces If-Match: throws 412 unless `ifMatch` is absent, "*", or lists the current tag.
 * Weak comparison, as RFC 9110 allows for If-Match on our weak tags.
 */
export function checkIfMatch(ifMatch: string | undefined, current: unknown): void {
  if (ifMatch === undefined || ifMatch.trim() === "*") return;
  const wanted = etagOf(current).replace(/^W\//, "");
  const offered = ifMatch.split(",").map((t) => t.trim().replace(/^W\//, ""));
  if (!offered.includes(wanted)) throw new PreconditionFailedError();
}
