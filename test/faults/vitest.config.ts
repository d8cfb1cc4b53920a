import { defineConfig } from "vitest/config";

// `npm run test:faults`: faults injected into real processes (a throwaway PostgreSQL cluster,
// the server as child processes, real OpAMP agents), real time, one file at a time. Not part
// of `npm test`. Writes .tmp/faults-report.md.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/faults/**/*.test.ts"],
    globalSetup: ["test/faults/global-setup.ts"],
    testTimeout: 150_000,
    hookTimeout: 90_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
  },
});
