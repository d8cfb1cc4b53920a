/**
 * Interop suite global setup: checks Go and builds the reference-client harness once per run for
 * every opamp-go version in the matrix (cached in test/interop/.cache/).
 */
import { buildInteropClient, checkGo, opampGoVersions } from "./go-toolchain.js";

export async function setup(): Promise<void> {
  const { version } = await checkGo();
  process.stderr.write(`[interop] ${version}\n`);
  for (const v of opampGoVersions()) {
    const started = Date.now();
    const bin = await buildInteropClient(v, (s) => process.stderr.write(`[interop] ${s}\n`));
    process.stderr.write(`[interop] opamp-go ${v}: ${bin} (${Date.now() - started} ms)\n`);
  }
}
