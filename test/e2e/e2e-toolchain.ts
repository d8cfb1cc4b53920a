/**
 * Builds the real OpAMP supervisor and a collector for the e2e suite, cached between runs in
 * $AGENT_API_E2E_CACHE (default $HOME/.cache/agent-api/e2e), keyed by the hash of their inputs.
 *
 *  - opampsupervisor: `go build` of collector-contrib's cmd/opampsupervisor at the version pinned
 *    in test/e2e/supervisor/go.mod (+ go.sum);
 *  - collector: the OpenTelemetry Collector Builder (go.opentelemetry.io/collector/cmd/builder,
 *    `go install`ed at the same version) with test/e2e/collector/builder.yaml.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkGo, goEnv, run } from "../interop/go-toolchain.js";

export const E2E_DIR = dirname(fileURLToPath(import.meta.url));
export const SUPERVISOR_MODULE_DIR = join(E2E_DIR, "supervisor");
export const BUILDER_MANIFEST = join(E2E_DIR, "collector", "builder.yaml");
export const SUPERVISOR_PACKAGE =
  "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/opampsupervisor";
export const BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder";

export function e2eCacheDir(): string {
  return process.env.AGENT_API_E2E_CACHE ?? join(homedir(), ".cache", "agent-api", "e2e");
}

/** The release the e2e suite runs: the opampsupervisor version pinned in supervisor/go.mod. */
export async function pinnedVersion(): Promise<string> {
  const mod = await readFile(join(SUPERVISOR_MODULE_DIR, "go.mod"), "utf8");
  const m = /cmd\/opampsupervisor (v[0-9.]+)/.exec(mod);
  if (!m?.[1]) throw new Error("test/e2e/supervisor/go.mod does not require cmd/opampsupervisor");
  return m[1];
}

export interface E2eBinaries {
  version: string;
  supervisor: string;
  collector: string;
}

async function hashOf(files: string[], extra: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  const h = createHash("sha256").update(extra);
  for (const f of files) h.update(f).update(await readFile(f));
  return h.digest("hex").slice(0, 16);
}

export function e2eBinaryPaths(version: string): E2eBinaries {
  const dir = join(e2eCacheDir(), version);
  return {
    version,
    supervisor: join(dir, "opampsupervisor"),
    collector: join(dir, "otelcol-build", "otelcol-agentapi-e2e"),
  };
}

async function cached(bin: string, key: string, build: () => Promise<void>, log: (s: string) => void) {
  const stamp = `${bin}.inputs`;
  if (existsSync(bin) && existsSync(stamp) && (await readFile(stamp, "utf8")) === key) {
    log(`cached: ${bin}`);
    return;
  }
  const started = Date.now();
  await build();
  if (!existsSync(bin)) throw new Error(`build finished but ${bin} is missing`);
  await writeFile(stamp, key);
  log(`built ${bin} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export async function buildE2eBinaries(log: (s: string) => void = () => {}): Promise<E2eBinaries> {
  const { go } = await checkGo();
  const version = await pinnedVersion();
  const paths = e2eBinaryPaths(version);
  const dir = dirname(paths.supervisor);
  await mkdir(dir, { recursive: true });
  const env = goEnv();

  const supKey = await hashOf(
    [join(SUPERVISOR_MODULE_DIR, "go.mod"), join(SUPERVISOR_MODULE_DIR, "go.sum")],
    `${go}\n${version}`,
  );
  await cached(
    paths.supervisor,
    supKey,
    async () => {
      await run(go, ["build", "-trimpath", "-o", paths.supervisor, SUPERVISOR_PACKAGE], {
        cwd: SUPERVISOR_MODULE_DIR,
        env,
        timeoutMs: 20 * 60_000,
      });
    },
    log,
  );

  const manifest = await readFile(BUILDER_MANIFEST, "utf8");
  const builderVersion = /version: ([0-9.]+)/.exec(manifest)?.[1];
  if (!builderVersion) throw new Error(`${BUILDER_MANIFEST}: dist.version missing`);
  const builder = join(dir, "bin", "builder");
  await cached(
    builder,
    await hashOf([], `${go}\nbuilder v${builderVersion}`),
    async () => {
      await run(go, ["install", `${BUILDER_MODULE}@v${builderVersion}`], {
        env: { ...env, GOBIN: join(dir, "bin") },
        timeoutMs: 20 * 60_000,
      });
    },
    log,
  );
  await cached(
    paths.collector,
    await hashOf([BUILDER_MANIFEST], `${go}\n${builderVersion}`),
    async () => {
      await rm(join(dir, "otelcol-build"), { recursive: true, force: true });
      await writeFile(join(dir, "builder.yaml"), manifest);
      await run(builder, ["--config", "builder.yaml"], { cwd: dir, env, timeoutMs: 30 * 60_000 });
    },
    log,
  );
  return paths;
}
