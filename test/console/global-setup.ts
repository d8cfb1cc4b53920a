/**
 * Builds the console from its current source before the browser tests, so they never test a
 * stale dist/console (the same build `npm run build` makes, size budget included).
 */
import { spawnSync } from "node:child_process";

export function setup(): void {
  const result = spawnSync("npm", ["run", "build:console"], { stdio: "inherit" });
  if (result.status !== 0) throw new Error("npm run build:console failed");
}
