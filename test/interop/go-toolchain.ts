/**
 * Finding Go and building Go programs for the interop and e2e suites (used from their
 * globalSetup files and from the tests). Builds are cached: a binary is rebuilt only when the
 * hash of its inputs changes, and Go's own build and module caches make a rebuild cheap.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const INTEROP_DIR = dirname(fileURLToPath(import.meta.url));
export const CLIENT_DIR = join(INTEROP_DIR, "client");
/** Where the harness binaries are built (gitignored); AGENT_API_INTEROP_CACHE overrides it. */
export const CACHE_DIR = process.env.AGENT_API_INTEROP_CACHE ?? join(INTEROP_DIR, ".cache");

/** Oldest Go that builds everything here (go.mod says 1.25; so do supervisor/collector v0.158). */
export const MIN_GO = [1, 25] as const;

export const INSTALL_HINT =
  "Install Go >= 1.25 (your package manager, or the official Go distribution) and put `go` on PATH " +
  "(or set GO=/path/to/go). The builds fetch modules through GOPROXY (the Go module proxy).";

const OPAMP_GO = "github.com/open-telemetry/opamp-go";

function requiredOpampGo(modfile: string): string {
  const text = readFileSync(join(CLIENT_DIR, modfile), "utf8");
  const m = new RegExp(`${OPAMP_GO.replaceAll(".", "\\.")} (v[^\\s]+)`).exec(text);
  if (!m?.[1]) throw new Error(`test/interop/client/${modfile} does not require ${OPAMP_GO}`);
  return m[1];
}

/**
 * The opamp-go versions the interop suite runs against, each with the modfile it builds with:
 * go.mod pins what released supervisors and collectors ship (v0.23.0); go.latest.mod pins the
 * newest release the Go module proxy serves (bump it with scripts/interop-bump-opamp-go.sh).
 */
export function pinnedOpampGo(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const modfile of ["go.mod", "go.latest.mod"]) out[requiredOpampGo(modfile)] ??= modfile;
  return out;
}

/** INTEROP_OPAMP_GO_VERSIONS (comma-separated) overrides the matrix; other versions get `go get`. */
export function opampGoVersions(): string[] {
  const env = process.env.INTEROP_OPAMP_GO_VERSIONS;
  const list = env ? env.split(",") : Object.keys(pinnedOpampGo());
  return list.map((v) => v.trim()).filter((v) => v.length > 0);
}

export function goEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // Never download another toolchain behind the user's back.
    GOTOOLCHAIN: "local",
    GOFLAGS: `${process.env.GOFLAGS ?? ""} -buildvcs=false`.trim(),
    ...extra,
  };
}

export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? goEnv(),
        timeout: opts.timeoutMs ?? 15 * 60_000,
        maxBuffer: 64 * 1024 * 1024,
        killSignal: "SIGKILL",
      },
      (err, stdout, stderr) => {
        if (err) {
          const e = new Error(
            `${cmd} ${args.join(" ")} failed (${err.message.split("\n")[0]})\n${String(stderr).slice(-6000)}`,
          );
          reject(e);
        } else resolvePromise({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** The `go` executable: $GO, then PATH, then the usual install locations. */
export function goBinary(): string {
  if (process.env.GO) return process.env.GO;
  const candidates = [
    ...(process.env.PATH ?? "").split(":").map((p) => join(p, "go")),
    ...(process.env.GOROOT ? [join(process.env.GOROOT, "bin", "go")] : []),
    "/usr/local/go/bin/go",
    join(process.env.HOME ?? "/root", "go", "bin", "go"),
    join(process.env.HOME ?? "/root", "sdk", "go", "bin", "go"),
  ];
  return candidates.find((c) => c && existsSync(c)) ?? "go";
}

/** Checks that Go is installed and recent enough; throws a message saying what to install. */
export async function checkGo(): Promise<{ go: string; version: string }> {
  const go = goBinary();
  let out: string;
  try {
    out = (await run(go, ["version"], { timeoutMs: 30_000 })).stdout.trim();
  } catch (err) {
    throw new Error(
      `Go is required for this suite but \`${go} version\` failed: ${String(err)}\n${INSTALL_HINT}`,
    );
  }
  const m = /go(\d+)\.(\d+)/.exec(out);
  const major = Number(m?.[1] ?? 0);
  const minor = Number(m?.[2] ?? 0);
  if (major < MIN_GO[0] || (major === MIN_GO[0] && minor < MIN_GO[1])) {
    throw new Error(`Go ${MIN_GO.join(".")} or newer is required, found: ${out}\n${INSTALL_HINT}`);
  }
  return { go, version: out };
}

function safeName(version: string): string {
  return version.replace(/[^0-9A-Za-z._-]/g, "_");
}

/** Where the interop client binary for an opamp-go version lives. */
export function clientBinaryPath(version: string): string {
  return join(CACHE_DIR, "bin", `opamp-interop-${safeName(version)}`);
}

async function hashFiles(paths: string[], extra: string): Promise<string> {
  const h = createHash("sha256").update(extra);
  for (const p of paths) h.update(p).update(await readFile(p));
  return h.digest("hex").slice(0, 16);
}

/**
 * Builds the interop client against one opamp-go version. A pinned version builds with its
 * modfile; any other version builds in a temporary copy after `go get` of that version (the
 * proxy must serve it). Returns the binary path; skips the build when its inputs are unchanged.
 */
export async function buildInteropClient(
  version: string,
  log: (s: string) => void = () => {},
): Promise<string> {
  const { go } = await checkGo();
  const bin = clientBinaryPath(version);
  await mkdir(dirname(bin), { recursive: true });
  const sources = (await readdir(CLIENT_DIR))
    .filter((f) => f.endsWith(".go"))
    .map((f) => join(CLIENT_DIR, f));
  const modfile = pinnedOpampGo()[version];
  const modPaths = modfile
    ? [join(CLIENT_DIR, modfile), join(CLIENT_DIR, modfile.replace(/\.mod$/, ".sum"))]
    : [join(CLIENT_DIR, "go.latest.mod"), join(CLIENT_DIR, "go.latest.sum")];
  const key = await hashFiles([...sources.sort(), ...modPaths], `${version}\n${go}`);
  const stamp = `${bin}.inputs`;
  if (existsSync(bin) && existsSync(stamp) && (await readFile(stamp, "utf8")) === key) return bin;

  const started = Date.now();
  if (modfile) {
    const args = ["build", "-trimpath", "-o", bin];
    if (modfile !== "go.mod") args.splice(1, 0, `-modfile=${modfile}`);
    await run(go, [...args, "."], { cwd: CLIENT_DIR, env: goEnv() });
  } else {
    // An unpinned version: a temporary copy of the module with `go get` of that version.
    const tmp = await mkdtemp(join(tmpdir(), "opamp-interop-"));
    try {
      for (const f of sources) await copyFile(f, join(tmp, f.split("/").pop() as string));
      await copyFile(join(CLIENT_DIR, "go.latest.mod"), join(tmp, "go.mod"));
      await copyFile(join(CLIENT_DIR, "go.latest.sum"), join(tmp, "go.sum"));
      await run(go, ["get", `github.com/open-telemetry/opamp-go@${version}`], { cwd: tmp });
      await run(go, ["mod", "tidy"], { cwd: tmp });
      await run(go, ["build", "-trimpath", "-o", bin, "."], { cwd: tmp });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  await writeFile(stamp, key);
  log(`built ${bin} (opamp-go ${version}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return bin;
}

export function repoRoot(): string {
  return resolve(INTEROP_DIR, "..", "..");
}
