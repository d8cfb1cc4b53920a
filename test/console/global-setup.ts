/**
 * Builds the console from its current source before the browser tests, so they never test a
 * stale dist/console (the same build `npm run build` makes, size budget included).
 */
import { spawnSync } from "node:child_process";

export function setup(): void {
  // vitest sets NODE_ENV=test, which would make Vite bundle React's development build.
  const result = spawnSync("npm", ["run", "build:console"], {
    stdio: "inherit",
    env: { ...process.env, NODE_ENV: "production" },
  });
  if (result.status !== 0) throw new Error("npm run build:console failed");
}
