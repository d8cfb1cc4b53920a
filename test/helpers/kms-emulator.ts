/**
 * A real KMS emulator for tests: moto's server mode (pinned in scripts/kms-emulator.sh), one process
 * per call on a free 127.0.0.1 port, with its own temporary working directory. The first call on a
 * machine installs the emulator into the cache (KMS_EMULATOR_DIR, default
 * ~/.cache/agent-api/kms-emulator); later calls start the cached launcher directly.
 *
 * Reach it with @aws-sdk/client-kms as { endpoint, region, credentials } (any credentials work; the
 * emulator does not check signatures), or hand `env` to a server process (KMS_PROVIDER=aws etc.).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateKeyCommand, KMSClient, ListKeysCommand } from "@aws-sdk/client-kms";

export interface KmsEmulator {
  /** http://127.0.0.1:<port> — the KMSClient `endpoint` (KMS_ENDPOINT for the server). */
  endpoint: string;
  region: string;
  /** A symmetric ENCRYPT_DECRYPT key created at start. */
  keyId: string;
  /** Dummy static credentials; the emulator accepts any. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Environment for a server process using this emulator as its AWS KMS. */
  env: Record<string, string>;
  /** Creates another symmetric ENCRYPT_DECRYPT key and returns its id. */
  createKey(): Promise<string>;
  /** Kills the emulator, waits for it to exit, removes its working directory. Idempotent. */
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL("../../scripts/kms-emulator.sh", import.meta.url));
const REGION = "us-east-1";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };
const INSTALL_TIMEOUT_MS = 10 * 60_000;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** Where scripts/kms-emulator.sh puts the launcher (the version is read from the script). */
function installDir(): string {
  const version = /^MOTO_VERSION=(\S+)$/m.exec(readFileSync(SCRIPT, "utf8"))?.[1];
  if (!version) throw new Error(`MOTO_VERSION not found in ${SCRIPT}`);
  const base = process.env.KMS_EMULATOR_DIR || join(homedir(), ".cache", "agent-api", "kms-emulator");
  return join(base, `moto-${version}`);
}

/** The cached launcher, when a complete install exists (same test as the script's). */
function cachedLauncher(): string | undefined {
  const dir = installDir();
  const launcher = join(dir, "bin", "kms-emulator");
  if (!existsSync(join(dir, ".complete")) || !existsSync(launcher)) return undefined;
  try {
    const python = readFileSync(join(dir, ".python"), "utf8").trim();
    return existsSync(python) ? launcher : undefined;
  } catch {
    return undefined;
  }
}

function run(file: string, args: string[], timeout: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

async function ensureInstalled(): Promise<string> {
  const cached = cachedLauncher();
  if (cached) return cached;
  try {
    const { stdout } = await run("bash", [SCRIPT], INSTALL_TIMEOUT_MS);
    const launcher = stdout.trim().split("\n").pop() ?? "";
    if (!existsSync(launcher)) throw new Error(`unexpected output: ${stdout}`);
    return launcher;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`scripts/kms-emulator.sh failed: ${stderr.trim() || String(err)}`);
  }
}

/** True when the emulator is cached or python3 with pip is there to install it. */
export async function kmsEmulatorAvailable(): Promise<boolean> {
  if (cachedLauncher()) return true;
  try {
    await run(process.env.KMS_EMULATOR_PYTHON || "python3", ["-m", "pip", "--version"], 30_000);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  child.kill("SIGTERM");
  if (await waitForExit(child, STOP_TIMEOUT_MS)) return;
  child.kill("SIGKILL");
  await waitForExit(child, STOP_TIMEOUT_MS);
}

interface Started {
  child: ChildProcess;
  endpoint: string;
  client: KMSClient;
}

/** Starts the launcher on a free port and waits until ListKeys answers. */
async function startOnce(launcher: string, workDir: string): Promise<Started | { retry: string }> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(launcher, ["-H", "127.0.0.1", "-p", String(port)], {
    cwd: workDir,
    env: { ...process.env, TMPDIR: workDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Keep draining the output (werkzeug logs every request) and remember its tail for errors.
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });

  const client = new KMSClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) {
      client.destroy();
      throw new Error(`cannot start ${launcher}: ${spawnError.message}`);
    }
    if (exited(child)) {
      client.destroy();
      // Most likely someone else took the port between freePort() and the bind.
      return { retry: `emulator exited (${child.exitCode ?? child.signalCode}) on port ${port}: ${tail}` };
    }
    try {
      await client.send(new ListKeysCommand({}));
      return { child, endpoint, client };
    } catch (err) {
      if (Date.now() > deadline) {
        client.destroy();
        await kill(child);
        throw new Error(
          `KMS emulator on ${endpoint} not ready after ${READY_TIMEOUT_MS} ms (${String(err)}): ${tail}`,
        );
      }
    }
    await sleep(100);
  }
}

async function createSymmetricKey(client: KMSClient): Promise<string> {
  const out = await client.send(
    new CreateKeyCommand({
      KeySpec: "SYMMETRIC_DEFAULT",
      KeyUsage: "ENCRYPT_DECRYPT",
      Description: "agent-api test key",
    }),
  );
  const keyId = out.KeyMetadata?.KeyId;
  if (!keyId) throw new Error("CreateKey returned no KeyId");
  return keyId;
}

export async function startKmsEmulator(): Promise<KmsEmulator> {
  const launcher = await ensureInstalled();
  const workDir = await mkdtemp(join(tmpdir(), "agent-api-kms-"));
  let started: Started | undefined;
  try {
    let lastFailure = "";
    for (let attempt = 0; attempt < 3 && !started; attempt++) {
      const result = await startOnce(launcher, workDir);
      if ("retry" in result) lastFailure = result.retry;
      else started = result;
    }
    if (!started) throw new Error(`KMS emulator did not start: ${lastFailure}`);
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }

  const { child, endpoint, client } = started;
  // If the test process exits without stop(), do not leave the emulator behind.
  const onProcessExit = () => {
    if (!exited(child)) child.kill("SIGKILL");
  };
  process.once("exit", onProcessExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off("exit", onProcessExit);
      client.destroy();
      await kill(child);
      await rm(workDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  let keyId: string;
  try {
    keyId = await createSymmetricKey(client);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    endpoint,
    region: REGION,
    keyId,
    credentials: { ...CREDENTIALS },
    env: {
      KMS_PROVIDER: "aws",
      KMS_ENDPOINT: endpoint,
      KMS_KEY_ID: keyId,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
    createKey: () => createSymmetricKey(client),
    stop,
  };
}
