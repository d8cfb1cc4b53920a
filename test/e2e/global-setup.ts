/**
 * E2E suite global setup: checks Go, then builds (or reuses from the cache) the pinned
 * opampsupervisor and the collector (OpenTelemetry Collector Builder).
 */
import { checkGo } from "../interop/go-toolchain.js";
import { buildE2eBinaries, e2eCacheDir } from "./e2e-toolchain.js";

export async function setup(): Promise<void> {
  const { version } = await checkGo();
  process.stderr.write(`[e2e] ${version}; cache ${e2eCacheDir()}\n`);
  const started = Date.now();
  const bins = await buildE2eBinaries((s) => process.stderr.write(`[e2e] ${s}\n`));
  process.stderr.write(
    `[e2e] opampsupervisor ${bins.version} + collector ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}
