/** Runs `agent-api apply …` (src/main.ts) as a child process, the way an operator runs the CLI. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `agent-api apply <args>` with `token` as AGENT_API_TOKEN; never throws on a non-zero exit. */
export async function applyCli(token: string, args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--import", "tsx", "src/main.ts", "apply", ...args],
      {
        env: { PATH: process.env.PATH ?? "", AGENT_API_TOKEN: token },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
